"""A workflow run killed at a chosen moment: the whole process group, as a user's kill -9
or a lost node would."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import time

from tests.helpers.tiers import require_end_to_end
from tests.helpers.workdir import REPO, SNAKEMAKE, Workdir


def kill_when(run: Workdir, pattern: str, timeout: float = 600, cores: int = 8) -> str:
    """Start `snakemake --cores <cores>` in a process group of its own and SIGKILL the whole
    group as soon as a file matching `pattern` appears that was not there when it started
    (so a resumed run is killed at its own moment, not at one an earlier run left behind).
    Returns the path of that file."""
    require_end_to_end("a Snakemake workflow")
    there_before = set(glob.glob(str(run.path / pattern)))
    command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(run.path),
               "--cores", str(cores)]
    with open(run.path / "killed-run.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not (appeared := set(glob.glob(str(run.path / pattern))) - there_before):
            assert process.poll() is None, (
                f"the study ended ({process.returncode}) before {pattern} appeared:\n"
                + (run.path / "killed-run.log").read_text()[-3000:])
            assert time.monotonic() < deadline, f"{pattern} did not appear in {timeout} s"
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    # Every job was in the group, the warm worker and its forked jobs too: nothing of the
    # killed run is left to write behind our back
    # (SIGKILL lands asynchronously; a dead child may stay a zombie until it is reaped).
    deadline = time.monotonic() + 30
    while alive := living_members(process.pid):
        assert time.monotonic() < deadline, f"processes outlived the kill: {alive}"
        time.sleep(0.1)
    return min(appeared)


def living_members(group: int) -> list[str]:
    listing = subprocess.run(["ps", "-o", "pid=,stat=", "-g", str(group)],
                             capture_output=True, text=True).stdout
    return [line for line in listing.splitlines() if not line.split()[1].startswith("Z")]

"""`make run` for real (the Makefile's `run` target, issue 18): a lock left by a killed run is
cleared and the study completes; a second `make run` in the same directory, while one holds
the target's flock, is refused."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.processes import kill_when
from tests.helpers.workdir import REPO, Workdir

pytestmark = pytest.mark.e2e

CLEARING = "make run: clearing the lock a killed run left behind"
REFUSED = "make run: another 'make run' is running in this directory"
# A small Branin study: seconds of work per job, no TensorFlow fits.
MAKE_STUDY = {
    "experiment": "test-make-run",
    "seed": 3,
    "dataset": {"name": "digits"},
    "cv": {"folds": 2},
    "objective": {"name": "function", "function": {"name": "branin"}},
    "space": {"x": {"type": "uniform", "low": -5.0, "high": 10.0},
              "y": {"type": "uniform", "low": 0.0, "high": 15.0}},
    "strategies": {"random": {"budget": 3}},
    "tracking": {"uri": "sqlite:///results/mlflow.db"},
}
# The repository's Makefile, run in the study directory with this venv and no venv update
# (STAMP empty: `run` has no prerequisite).
MAKE_RUN = ["make", "--no-print-directory", "-f", str(REPO / "Makefile"), "run",
            f"BIN={Path(sys.executable).parent}", "STAMP=", "CORES=2"]
# Without the flags of a `make` this test may run under (make test): a plain `make run`.
MAKE_ENV = {name: value for name, value in os.environ.items()
            if name not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}


def study_directory(path: Path) -> Workdir:
    """A directory `snakemake` runs in without arguments, as `make run` calls it: the
    repository's Snakefile, rules and workflow profile beside the study's own config."""
    for name in ("Snakefile", "workflow", "profiles"):
        (path / name).symlink_to(REPO / name)
    run = Workdir(path)
    run.write_config(MAKE_STUDY)
    return run


def wait_for(condition, what: str, timeout: float, process: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, (
            f"make run ended ({process.returncode}) before {what}:\n{log.read_text()[-4000:]}")
        assert time.monotonic() < deadline, f"no {what} in {timeout} s:\n{log.read_text()}"
        time.sleep(0.05)


def test_make_run_clears_a_stale_lock_and_refuses_a_concurrent_run(tmp_path):
    run = study_directory(tmp_path)
    # A run killed with SIGKILL (its whole process group) leaves Snakemake's lock behind.
    kill_when(run, "results/random/rounds/round_0.json", timeout=300, cores=2)
    locks = tmp_path / ".snakemake" / "locks"
    assert any(locks.iterdir()), "the killed run left no lock"
    refused = run.snakemake("--cores", "2", check=False)  # what `make run` spares the user
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "cannot be locked" in said, said[-3000:]

    log = tmp_path / "make-run.log"
    with open(log, "wb") as handle:
        first = subprocess.Popen(MAKE_RUN, cwd=tmp_path, stdout=handle,
                                 stderr=subprocess.STDOUT, start_new_session=True,
                                 env=MAKE_ENV)
    try:
        # The message is printed under the flock: from then on this `make run` holds it.
        wait_for(lambda: CLEARING in log.read_text(), "clearing message", 120, first, log)
        # Stopped (as Ctrl-Z stops it) it cannot finish, and so cannot give the flock back,
        # however long the second `make run` takes to start.
        os.killpg(first.pid, signal.SIGSTOP)
        try:
            second = subprocess.run(MAKE_RUN, cwd=tmp_path, capture_output=True, text=True,
                                    timeout=120, env=MAKE_ENV)
            assert first.poll() is None, "the first make run ended before it was stopped"
        finally:
            os.killpg(first.pid, signal.SIGCONT)
        assert second.returncode != 0
        assert REFUSED in second.stderr, second.stderr
        assert CLEARING not in second.stdout + second.stderr
        assert first.wait(timeout=600) == 0, log.read_text()[-6000:]
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    output = log.read_text()
    assert output.count(CLEARING) == 1
    # The results are readable as the user's umask allows any new file (not mkstemp's 0600):
    # a teammate, or a web server publishing the report, can read them.
    umask = os.umask(0o022)
    os.umask(umask)
    for result in ("results/random/trials.csv", "results/report/index.html"):
        assert stat.S_IMODE((tmp_path / result).stat().st_mode) == 0o666 & ~umask, result
    assert not locks.exists() or not any(locks.iterdir())  # the finished run released it

    # Nothing left behind, nothing to do: no lock to clear, and it succeeds.
    again = subprocess.run(MAKE_RUN, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                           env=MAKE_ENV)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert CLEARING not in again.stdout + again.stderr
    assert REFUSED not in again.stderr

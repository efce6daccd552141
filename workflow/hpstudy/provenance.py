"""Where results came from: the git commit of the code and the versions of the packages that
decide them, read once per process (MLflow's trial tags and the report's setup section)."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True,
                          text=True, timeout=10).stdout.strip()


@functools.cache  # constant for the process; a writer logging many trials asks once
def git_commit(mark_changes: bool = False) -> str:
    """HEAD's commit ("unknown" outside a git checkout); with mark_changes, "+changes" when
    tracked files differ from it."""
    try:
        commit = _git("rev-parse", "HEAD")
        if mark_changes and _git("status", "--porcelain", "--untracked-files=no"):
            commit += "+changes"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit


def package_versions(names: Sequence[str]) -> dict[str, str]:
    """{package: version} of those installed here, in the order given."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions

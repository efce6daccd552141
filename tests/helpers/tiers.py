"""The test tiers (README, Testing) and the guard that keeps them apart.

`make test` runs the unit tier: in-process tests only, no workflow, server, `make` or
browser. Everything that starts one of those is marked `e2e` (or `slow`, `cluster`) and runs
in `make test-e2e`, one pytest session in which the session studies (tests/conftest.py) are
shared. Workdir.snakemake and running_mlflow_server call require_end_to_end(): an unmarked
test that starts a workflow fails with a message saying how to mark it, instead of quietly
making the unit tier slow again."""

from __future__ import annotations

import os

END_TO_END_MARKERS = ("e2e", "slow", "cluster")

# Set by tests/conftest.py before each test's fixtures are set up: whether that test is
# marked end-to-end. (A session study is built inside the setup of the first test that asks
# for it, so it is checked against that test's marks.)
_current = {"test": None, "end_to_end": True}


def enter_test(name: str, end_to_end: bool) -> None:
    _current.update(test=name, end_to_end=end_to_end)


def require_end_to_end(what: str) -> None:
    if not _current["end_to_end"]:
        raise RuntimeError(
            f"{_current['test']} starts {what}, but it is not marked end-to-end: mark it "
            "`@pytest.mark.e2e` (it then runs in `make test-e2e`) and reuse a session study "
            "from tests/conftest.py unless it needs its own")


def in_ci() -> bool:
    """CI sets CI=true (.ci/run): there a test that would skip for a missing tool fails."""
    return os.environ.get("CI", "").lower() == "true"


# The end-to-end tier's longest files, longest first, as measured (results/tests/e2e.xml,
# the sum of a file's test times on three workers, 2026-12-03, with other work sharing the
# machine, so high; each file's CPU seconds, the JUnit XML's cpu_seconds, beside it; before
# the cuts said). pytest-xdist hands whole files to its workers in
# collection order: started first, the long ones overlap the many short ones, instead of one
# of them running alone at the end while the other workers sit idle. Files not named here
# follow in their collection order.
LONGEST_FIRST = (
    "tests/test_cluster.py",                           # 943 s, 216 CPU s: SLURM, the CNN
    "tests/test_workflow.py",                          # 1026 s, 517 CPU s, before two cuts
    "tests/test_resume.py",                            # 799 s, 231 CPU s: six kills, now four
    "tests/test_examples.py",                          # 587 s, 304 CPU s: the three examples
    "tests/strategies/test_multi_fidelity_study.py",   # 552 s, 294 CPU s
    "tests/test_tracking.py",                          # 500 s, 238 CPU s
    "tests/test_faults.py",                            # 302 s, 169 CPU s
    "tests/test_suite.py",                             # 174 s, 128 CPU s
)


def longest_first(path: str) -> int:
    """Sort key of a test file (its path from the repository): LONGEST_FIRST's files in its
    order, then every other file."""
    return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

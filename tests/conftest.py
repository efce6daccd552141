"""Shared fixtures and the test tiers (README, Testing).

The session studies are real Snakemake runs of the real workflow, each run once per pytest
session and shared by every test that reads it: `make test-e2e` runs the end-to-end, slow
and cluster tests in one session for that. A test that changes a study works on a copy
(tests.helpers.studies.copy_study). The helpers they use are in tests/helpers/."""

from __future__ import annotations

import copy
import os
import resource

import pytest

from tests.helpers import tiers
from tests.helpers.studies import run_named_study, shared_study
from tests.helpers.tracking import running_mlflow_server
from tests.helpers.workdir import Workdir, load_config

_CPU_AT_SETUP = pytest.StashKey[float]()


def _end_to_end(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(name) for name in tiers.END_TO_END_MARKERS)


def pytest_collection_modifyitems(config, items):
    """The end-to-end tier's longest files first (tiers.LONGEST_FIRST); a file's tests keep
    their order. Run with `--no-loadscope-reorder`, which makes pytest-xdist keep this order
    rather than put the files with most tests first."""
    items.sort(key=lambda item: tiers.longest_first(item.nodeid.split("::")[0]))


def _cpu_seconds() -> float:
    """CPU seconds of this pytest process and of every child it has waited for (a workflow's
    whole process tree, when each parent waits for its children; not what SLURM's or a
    server's daemons run)."""
    own, children = (resource.getrusage(who) for who in
                     (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # Before the test's fixtures (a session study among them) are set up.
    item.stash[_CPU_AT_SETUP] = _cpu_seconds()
    tiers.enter_test(item.nodeid, _end_to_end(item))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Each test's CPU seconds go to the JUnit XML (property cpu_seconds). In CI (CI=true) a
    skip is a failure: every test there has what it needs installed by .ci/run, so a skip
    means an install step silently did nothing. Locally a test may still skip for a missing
    tool (Chromium, Debian's Fashion-MNIST, a tmpfs mount)."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "teardown" and _CPU_AT_SETUP in item.stash:
        # The CPU a test cost, fixtures it set up included, in the JUnit XML beside its
        # time: on a loaded machine the time stretches, the CPU much less.
        report.user_properties.append(
            ("cpu_seconds", f"{_cpu_seconds() - item.stash[_CPU_AT_SETUP]:.1f}"))
    if report.skipped and tiers.in_ci() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (f"skipped in CI (CI=true), which must have every tool the tests "
                           f"need: {reason}")


@pytest.fixture(autouse=True)
def _tracking_uri_left_alone():
    """Every workflow a test starts inherits os.environ: a test that sets MLFLOW_TRACKING_URI
    there (mlflow.set_tracking_uri does) would send the studies of every later test of the
    session to its store. Such a test fails here, and the variable is put back."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    after = os.environ.get("MLFLOW_TRACKING_URI")
    if after != before:
        if before is None:
            del os.environ["MLFLOW_TRACKING_URI"]
        else:
            os.environ["MLFLOW_TRACKING_URI"] = before
        pytest.fail(f"the test left MLFLOW_TRACKING_URI={after!r} in os.environ (was "
                    f"{before!r}): use MlflowClient(tracking_uri=...), or monkeypatch.setenv")


@pytest.fixture
def workdir(tmp_path) -> Workdir:
    return Workdir(tmp_path)


@pytest.fixture
def branin_config() -> dict:
    return copy.deepcopy(load_config("branin"))


@pytest.fixture
def mlflow_server(tmp_path):
    """A real `mlflow server` on 127.0.0.1 (its URL); its store, artifacts and log lie in
    tmp_path / "server"."""
    backend = tmp_path / "server"
    backend.mkdir()
    with running_mlflow_server(f"sqlite:///{backend / 'mlflow.db'}", backend / "artifacts",
                               backend / "server.log") as url:
        yield url


# --- session studies: read them, never change them (copy_study) ----------------------------

@pytest.fixture(scope="session")
def function_study(tmp_path_factory) -> Workdir:
    """tests/configs/branin.yaml run whole: grid, random, TPE and GP on noisy Branin, with
    the report and every trial in results/mlflow.db. No TensorFlow: seconds of work."""
    return shared_study(tmp_path_factory, "function-study",
                        lambda path: run_named_study(path, "branin"))


@pytest.fixture(scope="session")
def tracked_study(tmp_path_factory) -> Workdir:
    """tests/configs/tracking.yaml run whole into its sqlite store: 2 study runs (random,
    tpe) and 7 trial runs."""
    return shared_study(tmp_path_factory, "tracked-study",
                        lambda path: run_named_study(path, "tracking"))


@pytest.fixture(scope="session")
def cnn_study(tmp_path_factory) -> Workdir:
    """tests/configs/cnn_tiny.yaml run whole: the real Keras CNN on a digits subset, a grid
    with one sane and one diverging learning rate, and two random trials."""
    return shared_study(tmp_path_factory, "cnn-study",
                        lambda path: run_named_study(path, "cnn_tiny"))


# tests/test_security.py imports it: the credentials that must reach nothing.
SERVER_SECRET = "s3cret"


@pytest.fixture(scope="session")
def server_study(tmp_path_factory):
    """tests/configs/tracking.yaml run against a real `mlflow server` (sqlite store,
    artifacts and log in its own folder), with credentials in MLFLOW_TRACKING_URI that must
    reach nothing (tests/test_security.py). Yields (study, the server's URL, the server's
    folder, the run's console output); the server stays up for the session."""
    root = tmp_path_factory.mktemp("server-study")
    backend = root / "server"
    backend.mkdir()
    with running_mlflow_server(f"sqlite:///{backend / 'mlflow.db'}", backend / "artifacts",
                               backend / "server.log") as url:
        secret_uri = url.replace("http://", f"http://hpuser:{SERVER_SECRET}@")
        study = Workdir(root / "study")
        study.path.mkdir()
        study.write_config(load_config("tracking"))
        console = study.snakemake("--cores", "2", env={"MLFLOW_TRACKING_URI": secret_uri})
        yield study, url, backend, console.stdout + console.stderr

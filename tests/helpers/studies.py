"""Reference studies run once per test session (tests/conftest.py) and copies of them for
tests that change what they find."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

from tests.helpers.workdir import Workdir, load_config


def run_study(path: Path, config: dict, *args: str, env: dict | None = None) -> Workdir:
    """The whole workflow of `config` in a new study directory at `path` (its console output
    kept as `.console`)."""
    run = Workdir(path)
    run.path.mkdir(parents=True)
    run.write_config(config)
    result = run.snakemake("--cores", "2", *args, env=env)
    run.console = result.stdout + result.stderr
    return run


def run_named_study(path: Path, name: str, *args: str, env: dict | None = None) -> Workdir:
    """tests/configs/<name>.yaml run whole."""
    return run_study(path, load_config(name), *args, env=env)


def shared_study(tmp_path_factory, name: str, build: Callable[[Path], Workdir]) -> Workdir:
    """A session study built once per test session, also when pytest-xdist runs the session
    in several worker processes (`make test-e2e`): the first worker that asks builds it, with
    build(path), in a directory every worker of the session sees, holding a lock; the others
    wait for the lock and find it built. A build that failed is started again by the next
    worker that asks."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # each worker's base is popen-gw<N> in the run's
        root = root.parent
    root = root / "session-studies"
    root.mkdir(exist_ok=True)
    path, built = root / name / "study", root / f"{name}.console"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if built.exists():
            study = Workdir(path)
            study.console = built.read_text(encoding="utf-8")
            return study
        if path.parent.exists():
            shutil.rmtree(path.parent)
        path.parent.mkdir()
        study = build(path)
        built.write_text(study.console, encoding="utf-8")
        return study


def copy_study(study: Workdir, path: Path) -> Workdir:
    """A copy of a finished study that a test may change: its config, results and Snakemake's
    metadata, with modification times kept, so Snakemake sees it as up to date. Its sqlite
    MLflow store (results/mlflow.db, the default) is pointed at the copy's own artifacts: the
    store keeps artifact roots as absolute paths, so a rerun in a plain copy would log its
    artifacts (the report, trials.csv) into the original's results/mlartifacts."""
    shutil.copytree(study.path, path, symlinks=True)
    copy = Workdir(path)
    database = copy.results / "mlflow.db"
    if database.exists():
        _repoint_artifacts(database, f"{study.path.resolve()}/", f"{copy.path.resolve()}/")
    return copy


def _repoint_artifacts(database: Path, original: str, own: str) -> None:
    """Every artifact root and location in an MLflow sqlite store under `original` moved
    under `own` (paths and file: URIs alike hold the study's path followed by a slash)."""
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        columns = [(table, column)
                   for (table,) in connection.execute(
                       "SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
                   for _, column, *_ in connection.execute(f"PRAGMA table_info({table})")
                   if "artifact" in column or "location" in column]
        roots = []
        for table, column in columns:
            connection.execute(f"UPDATE {table} SET {column} = replace({column}, ?, ?)",
                               (original, own))
            roots += [row[0] for row in connection.execute(f"SELECT {column} FROM {table}")]
    assert any(str(root).startswith(f"file://{own}results/") for root in roots), roots
    assert not [root for root in roots if original in str(root)], roots

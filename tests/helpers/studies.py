"""Reference studies run once per test session (tests/conftest.py) and copies of them for
tests that change what they find."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.helpers.workdir import Workdir, load_config


def run_study(path: Path, config: dict, *args: str, env: dict | None = None) -> Workdir:
    """The whole workflow of `config` in a new study directory at `path`."""
    run = Workdir(path)
    run.path.mkdir(parents=True)
    run.write_config(config)
    run.snakemake("--cores", "2", *args, env=env)
    return run


def run_named_study(path: Path, name: str, *args: str, env: dict | None = None) -> Workdir:
    """tests/configs/<name>.yaml run whole."""
    return run_study(path, load_config(name), *args, env=env)


def copy_study(study: Workdir, path: Path) -> Workdir:
    """A copy of a finished study that a test may change: its config, results and Snakemake's
    metadata, with modification times kept, so Snakemake sees it as up to date. (An MLflow
    sqlite store keeps its artifact root as an absolute path: artifacts logged in the copy
    land beside the original's. The tests that change a copy's MLflow runs look at runs, not
    artifacts.)"""
    shutil.copytree(study.path, path, symlinks=True)
    return Workdir(path)

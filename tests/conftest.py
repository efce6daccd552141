"""Shared fixtures: real Snakemake runs of the real workflow in a temporary directory. The
helpers they use (and the tests import) are in tests/helpers/."""

from __future__ import annotations

import copy

import pytest

from tests.helpers.tracking import running_mlflow_server
from tests.helpers.workdir import Workdir, load_config


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

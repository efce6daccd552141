"""Shared fixtures: real Snakemake runs of the real workflow in a temporary directory."""

from __future__ import annotations

import contextlib
import copy
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
CONFIGS = Path(__file__).resolve().parent / "configs"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


# A search space with every kind of parameter, each with grid points so that grid search
# runs on it too.
ALL_KINDS_SPACE = {
    "learning_rate": {"type": "loguniform", "low": 1e-4, "high": 0.1, "grid": 3},
    "momentum": {"type": "loguniform", "low": 3.1623e-3, "high": 0.31623,
                 "transform": "complement", "grid": [0.9, 0.99]},
    "dropout": {"type": "uniform", "low": 0.0, "high": 0.5, "grid": 2},
    "filters": {"type": "int", "low": 8, "high": 64, "grid": [16, 32]},
    "optimizer": {"type": "choice", "choices": ["sgd", "adam", "rmsprop"], "grid": 2},
}


def load_config(name: str) -> dict:
    path = REPO / "config.yaml" if name == "default" else CONFIGS / f"{name}.yaml"
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


class Workdir:
    """A study directory: its own config.yaml and results/, the repo's Snakefile."""

    def __init__(self, path: Path):
        self.path = path

    def write_config(self, config: dict) -> Path:
        target = self.path / "config.yaml"
        target.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return target

    def snakemake(self, *args: str, check: bool = True, timeout: int = 900,
                  env: dict | None = None) -> subprocess.CompletedProcess:
        command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory",
                   str(self.path), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                env={**os.environ, **(env or {})})
        if check and result.returncode != 0:
            raise AssertionError(f"snakemake {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout[-4000:]}\n{result.stderr[-6000:]}")
        return result

    @property
    def results(self) -> Path:
        return self.path / "results"


@pytest.fixture
def workdir(tmp_path) -> Workdir:
    return Workdir(tmp_path)


@pytest.fixture
def branin_config() -> dict:
    return copy.deepcopy(load_config("branin"))


def free_port() -> int:
    """A TCP port nothing listens on at the moment (on loopback)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_mlflow_server(store_uri: str, artifacts: Path, server_log: Path,
                          extra_args: tuple[str, ...] = (), env: dict | None = None):
    """A real `mlflow server` on 127.0.0.1 (yields its URL) for the length of the block."""
    port = free_port()
    command = [str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1", *extra_args,
               "--backend-store-uri", store_uri, "--artifacts-destination", str(artifacts)]
    # Its output goes to a file: a pipe nobody reads would block the server once full.
    with open(server_log, "wb") as log_file:
        server = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT,
                                  start_new_session=True, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            if server.poll() is not None:
                raise AssertionError(server_log.read_text(errors="replace")[-3000:]) from None
            time.sleep(0.5)
    else:
        server.kill()
        raise AssertionError("mlflow server did not start within 120 s")
    try:
        yield url
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


@pytest.fixture
def mlflow_server(tmp_path):
    """A real `mlflow server` on 127.0.0.1 (its URL); its store, artifacts and log lie in
    tmp_path / "server"."""
    backend = tmp_path / "server"
    backend.mkdir()
    with running_mlflow_server(f"sqlite:///{backend / 'mlflow.db'}", backend / "artifacts",
                               backend / "server.log") as url:
        yield url


def mlflow_runs(uri: str, experiment: str):
    """(client, every run of the experiment, deleted ones included) at a tracking URI."""
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment} at {uri}"
    return client, client.search_runs([found.experiment_id], run_view_type=ViewType.ALL,
                                      max_results=5000)


# Metrics that measure time: they differ between any two runs.
TIMING_METRICS = {"duration_s", "cpu_seconds", "fit_seconds", "fit_cpu_seconds"}


def run_tree(uri: str, experiment: str) -> dict:
    """An experiment's runs as {run key: what was logged}, without what differs between
    stores and runs by nature (run ids, times): parents as keys, artifacts as names."""
    client, runs = mlflow_runs(uri, experiment)
    key_of = {run.info.run_id: run.data.tags["hpstudy.key"] for run in runs}
    tree = {}
    for run in runs:
        tags = dict(run.data.tags)
        parent = tags.pop("mlflow.parentRunId", None)
        key = key_of[run.info.run_id]
        assert key not in tree, f"run {key} logged twice"
        tree[key] = {
            "name": run.info.run_name,
            "status": run.info.status,
            "parent": key_of.get(parent),
            "params": dict(run.data.params),
            "metrics": {name: value for name, value in run.data.metrics.items()
                        if name not in TIMING_METRICS},
            "tags": tags,
            "artifacts": sorted(a.path for a in client.list_artifacts(run.info.run_id)),
        }
    return tree

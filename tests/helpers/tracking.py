"""MLflow for the tests: a real `mlflow server`, an experiment's runs, their tree, and the
check that a study's runs are all there.

(Not named mlflow.py: tests/helpers/tracking_writer.py runs as a script, with this folder
first on sys.path, and would import such a file instead of MLflow.)"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.network import free_port
from tests.helpers.tiers import require_end_to_end

# MLflow gives up fast on a dead server: two attempts, no HTTP retries, short timeouts.
FAST_FAILURE = {"HPSTUDY_MLFLOW_ATTEMPTS": "2", "HPSTUDY_MLFLOW_RETRY_DELAY": "0.2",
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}

# MLflow 3's server starts seven job consumers (huey, for its GenAI features) beside itself
# unless this says no: seven more interpreters importing MLflow at every server start.
# A tracking server for runs needs none of them.
NO_SERVER_JOBS = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}

# Metrics that measure time: they differ between any two runs.
TIMING_METRICS = {"duration_s", "cpu_seconds", "fit_seconds", "fit_cpu_seconds"}


@contextlib.contextmanager
def running_mlflow_server(store_uri: str, artifacts: Path, server_log: Path,
                          extra_args: tuple[str, ...] = (), env: dict | None = None):
    """A real `mlflow server` on 127.0.0.1 (yields its URL) for the length of the block."""
    require_end_to_end("an MLflow server")
    port = free_port()
    command = [str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1", *extra_args,
               "--backend-store-uri", store_uri, "--artifacts-destination", str(artifacts)]
    # Its output goes to a file: a pipe nobody reads would block the server once full.
    with open(server_log, "wb") as log_file:
        server = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT,
                                  start_new_session=True,
                                  env={**os.environ, **NO_SERVER_JOBS, **(env or {})})
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


def mlflow_runs(uri: str, experiment: str):
    """(client, every run of the experiment, deleted ones included) at a tracking URI."""
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment} at {uri}"
    return client, client.search_runs([found.experiment_id], run_view_type=ViewType.ALL,
                                      max_results=5000)


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
            # Measured times differ from run to run: the trial's and its folds'
            # (`fold_<k>/fit_seconds`).
            "metrics": {name: value for name, value in run.data.metrics.items()
                        if name.rsplit("/", 1)[-1] not in TIMING_METRICS},
            "tags": tags,
            "artifacts": sorted(a.path for a in client.list_artifacts(run.info.run_id)),
        }
    return tree


def check_run_tree(uri: str, config: dict, results: Path) -> dict:
    """One study run per strategy, one trial run per trial carrying its folds' metrics."""
    from hpstudy.plan import Plan

    plan = Plan.from_config(config)
    client, runs = mlflow_runs(uri, config["experiment"])
    by_role = {}
    for run in runs:
        by_role.setdefault(run.data.tags.get("role"), []).append(run)
        assert run.info.status == "FINISHED", (run.info.run_name, run.info.status)
    studies = {r.data.tags["strategy"]: r for r in by_role["study"]}
    assert sorted(studies) == sorted(plan.strategies)
    trials = by_role["trial"]
    assert len(trials) == sum(plan.budget(s) for s in plan.strategies)
    seen = set()
    for run in trials:
        tags, strategy = run.data.tags, run.data.tags["strategy"]
        key = (strategy, int(tags["trial"]))
        assert key not in seen, f"trial {key} logged twice"
        seen.add(key)
        assert tags["mlflow.parentRunId"] == studies[strategy].info.run_id
        for tag in ("round", "seed", "study_hash", "data_checksum", "git_commit",
                    "package_versions", "status"):
            assert tags.get(tag), tag
        assert tags["study_hash"] == plan.study_hash(tags["study"])
        assert set(run.data.params) == {"x", "y"}
        for metric in ("objective", "duration_s", "value_mean", "value_std"):
            assert metric in run.data.metrics, metric
        for fold in range(plan.folds):
            assert tags[f"fold_{fold}.status"] == "ok"
            for metric in ("value", "fit_seconds", "fit_cpu_seconds"):
                assert f"fold_{fold}/{metric}" in run.data.metrics, (fold, metric)
        assert f"fold_{plan.folds}/value" not in run.data.metrics
    assert sorted(by_role) == ["study", "trial"]  # no run per fold: folds are on the trial
    # The trial's objective in MLflow is the one in trials.csv.
    import pandas as pd

    table = pd.read_csv(results / "random" / "trials.csv").set_index("trial")
    for run in trials:
        if run.data.tags["strategy"] == "random":
            assert run.data.metrics["objective"] == pytest.approx(
                table.loc[int(run.data.tags["trial"]), "objective"])
    # The report is attached to each study run.
    names = {a.path for a in client.list_artifacts(studies["tpe"].info.run_id)}
    assert {"trials.csv", "index.html", "comparison.csv", "figures", "test.json"} <= names
    return {"study": len(studies), "trial": len(trials)}


"""Every trial in MLflow, for real: sqlite by default, a real `mlflow server`, concurrent
writers, reruns, kills and an unreachable server."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import pytest

from hpstudy.tracking import redact
from tests.helpers.network import free_port
from tests.helpers.tracking import FAST_FAILURE, check_run_tree, mlflow_runs
from tests.helpers.workdir import REPO, Workdir, load_config


@pytest.fixture(scope="module")
def logged_study(tmp_path_factory):
    run = Workdir(tmp_path_factory.mktemp("tracked"))
    config = load_config("tracking")
    run.write_config(config)
    run.snakemake("--cores", "2")
    return run, config


def _sqlite(run: Workdir) -> str:
    return f"sqlite:///{run.results / 'mlflow.db'}"


def test_sqlite_run_tree(logged_study):
    run, config = logged_study
    counts = check_run_tree(_sqlite(run), config, run.results)
    assert counts == {"study": 2, "trial": 7}


def test_forced_rerun_updates_instead_of_duplicating(logged_study):
    run, config = logged_study
    client, before = mlflow_runs(_sqlite(run), config["experiment"])
    trial_run = next(r for r in before if r.data.tags.get("role") == "trial")
    history_before = client.get_metric_history(trial_run.info.run_id, "fold_0/value")
    assert len(history_before) == 1
    run.snakemake("--cores", "2", "--forcerun", "init_tracking", "start_study", "log_trial",
                  "finish_study")
    client, after = mlflow_runs(_sqlite(run), config["experiment"])
    assert sorted(r.info.run_id for r in after) == sorted(r.info.run_id for r in before)
    assert client.get_metric_history(trial_run.info.run_id, "fold_0/value") == history_before
    check_run_tree(_sqlite(run), config, run.results)


def test_run_left_running_by_a_kill_is_finished_by_the_rerun(logged_study):
    run, config = logged_study
    client, runs = mlflow_runs(_sqlite(run), config["experiment"])
    victim = next(r for r in runs if r.data.tags.get("role") == "trial"
                  and r.data.tags["strategy"] == "tpe" and r.data.tags["trial"] == "3")
    # What a SIGKILL in the middle of log_trial leaves: the run RUNNING, no marker file.
    client.update_run(victim.info.run_id, status="RUNNING")
    (run.results / "tpe" / "trials" / "3" / "mlflow.json").unlink()
    result = run.snakemake("--cores", "2")
    assert "log_trial" in result.stdout + result.stderr
    assert client.get_run(victim.info.run_id).info.status == "FINISHED"
    check_run_tree(_sqlite(run), config, run.results)


def test_changed_config_makes_newmlflow_runs(tmp_path):
    run = Workdir(tmp_path)
    config = load_config("tracking")
    config["strategies"] = {"random": {"budget": 2}}
    run.write_config(config)
    run.snakemake("--cores", "2")
    config["seed"] = 6
    run.write_config(config)
    run.snakemake("--cores", "2")
    _, runs = mlflow_runs(_sqlite(run), config["experiment"])
    studies = [r for r in runs if r.data.tags.get("role") == "study"]
    assert len(studies) == 2 and len({r.data.tags["study_hash"] for r in studies}) == 2
    assert len([r for r in runs if r.data.tags.get("role") == "trial"]) == 4


def test_unreachable_server_fails_loudly_keeps_results_and_resumes(tmp_path):
    run = Workdir(tmp_path)
    config = load_config("tracking")
    run.write_config(config)
    port = free_port()  # nothing listens there
    secret_uri = f"http://hpuser:s3cret-token@127.0.0.1:{port}"
    failed = run.snakemake("--cores", "2", "--keep-going", check=False,
                           env={**FAST_FAILURE, "MLFLOW_TRACKING_URI": secret_uri})
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert f"MLflow experiment setup failed after 2 attempts at http://127.0.0.1:{port}" in \
        (run.results / "logs" / "init_tracking.log").read_text()
    # Nothing finished is lost: every trial is scored and summarised on disk.
    assert (run.results / "random" / "trials.csv").exists()
    assert (run.results / "tpe" / "trials.csv").exists()
    # The credentials appear nowhere: not in Snakemake's output, logs or metadata.
    assert "s3cret-token" not in output
    for path in list(run.path.joinpath("results").rglob("*")) + \
            list(run.path.joinpath(".snakemake").rglob("*")):
        if path.is_file() and path.suffix in {".log", ".json", ".csv", ""}:
            assert b"s3cret-token" not in path.read_bytes(), path
    # Back online (the sqlite default): the next run logs what is missing.
    run.snakemake("--cores", "2")
    check_run_tree(_sqlite(run), config, run.results)


def test_tracking_server_receives_the_same_run_tree(tmp_path, mlflow_server):
    run = Workdir(tmp_path / "study")
    run.path.mkdir()
    config = load_config("tracking")
    run.write_config(config)
    run.snakemake("--cores", "2", env={"MLFLOW_TRACKING_URI": mlflow_server})
    assert not (run.results / "mlflow.db").exists(), "logged to sqlite instead of the server"
    counts = check_run_tree(mlflow_server, config, run.results)
    assert counts == {"study": 2, "trial": 7}


def test_eight_concurrent_writers_into_sqlite(tmp_path):
    """8 processes x 50 trials into the sqlite default at once: no error, no duplicate."""
    database = tmp_path / "results" / "mlflow.db"
    database.parent.mkdir()
    uri = f"sqlite:///{database}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri,
           "PYTHONPATH": os.pathsep.join([str(REPO / "workflow"), str(REPO)])}
    strategies = [f"writer{i}" for i in range(8)]
    subprocess.run([sys.executable, "-c",
                    "import sys; from hpstudy.tracking import init_tracking, start_study; "
                    "init_tracking('concurrency', 'experiment.json'); "
                    "[start_study('experiment.json', s, s, 'cafe', f'{s}.json') "
                    "for s in sys.argv[1:]]",
                    *strategies], check=True, env=env, cwd=tmp_path, timeout=300)
    writers = [subprocess.Popen([sys.executable, str(REPO / "tests/helpers/tracking_writer.py"),
                                 str(tmp_path / f"{strategy}.json"), strategy, "50"],
                                env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for strategy in strategies]
    outcomes = [(w.wait(timeout=1200), *w.communicate()) for w in writers]
    for code, out, err in outcomes:
        assert code == 0, err[-3000:]
        print(out.strip())
    _, runs = mlflow_runs(uri, "concurrency")
    trials = [r for r in runs if r.data.tags.get("role") == "trial"]
    keys = [(r.data.tags["strategy"], r.data.tags["trial"]) for r in trials]
    assert len(keys) == 400 and len(set(keys)) == 400
    assert all(r.info.status == "FINISHED" for r in runs if r.data.tags.get("role") != "study")


def test_redact_removes_credentials_and_tokens():
    assert redact("http://user:pw@host:5000/path?token=abc") == "http://host:5000/path"
    assert redact("postgresql://u:p@db.example:5432/mlflow") == \
        "postgresql://db.example:5432/mlflow"
    assert redact("sqlite:///results/mlflow.db") == "sqlite:///results/mlflow.db"


def test_log_batch_splits_at_mlflow_limits_and_loses_nothing(tmp_path):
    """More params, tags and metrics than one request may carry (100, 100, 1000 in all)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    from hpstudy.tracking import log_batch

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = client.create_run(client.create_experiment("limits")).info.run_id
    log_batch(client, run_id,
              metrics=[Metric("loss", float(step), 1000 + step, step) for step in range(2300)],
              params=[Param(f"p{i}", str(i)) for i in range(130)],
              tags=[RunTag(f"t{i}", str(i)) for i in range(120)])
    run = client.get_run(run_id)
    assert len(run.data.params) == 130
    assert len([t for t in run.data.tags if t.startswith("t")]) == 120
    history = client.get_metric_history(run_id, "loss")
    assert sorted(m.step for m in history) == list(range(2300))


def test_a_new_sqlite_store_appears_only_once_migrated(tmp_path):
    """Created under a temporary name and renamed: a kill during MLflow's migration leaves
    no half-migrated DB behind (the resumed run would fail: "table ... already exists")."""
    import sqlite3

    from hpstudy.tracking import create_sqlite_atomically

    database = tmp_path / "results" / "mlflow.db"
    create_sqlite_atomically(f"sqlite:///{database}")
    # Nothing beside it: no staging file, no -wal file (no connection was left open).
    assert [p.name for p in database.parent.iterdir()] == ["mlflow.db"]
    with contextlib.closing(sqlite3.connect(database)) as connection:
        tables = {row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        # Write-ahead logging, for concurrent writers.
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert {"experiments", "runs", "metrics", "alembic_version"} <= tables
    before = database.stat().st_mtime_ns
    create_sqlite_atomically(f"sqlite:///{database}")  # an existing store is left alone
    assert database.stat().st_mtime_ns == before

"""Every trial in MLflow, for real: sqlite by default, a real `mlflow server`, concurrent
writers, reruns, kills and an unreachable server.

The end-to-end tests read the session studies of tests/conftest.py: `tracked_study`
(tests/configs/tracking.yaml into its sqlite store) and `server_study` (the same config
against a real `mlflow server`); the ones that rerun work on a copy (copy_study)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hpstudy.tracking.bulk import create_finished_runs as CREATE_RUNS
from hpstudy.tracking.bulk import sql_store as SQL_STORE
from hpstudy.tracking.client import KEY_TAG, TrackingError, redact
from hpstudy.tracking.client import find_runs as FIND_RUNS
from tests.helpers.network import free_port
from tests.helpers.studies import copy_study
from tests.helpers.tracking import FAST_FAILURE, check_run_tree, mlflow_runs
from tests.helpers.workdir import REPO, Workdir, load_config


@pytest.fixture
def config() -> dict:
    """tests/configs/tracking.yaml, the config of the tracked_study and server_study."""
    return load_config("tracking")


def _sqlite(run: Workdir) -> str:
    return f"sqlite:///{run.results / 'mlflow.db'}"


@pytest.mark.e2e
def test_sqlite_run_tree(tracked_study, config):
    run = tracked_study
    counts = check_run_tree(_sqlite(run), config, run.results)
    assert counts == {"study": 2, "trial": 7}


@pytest.mark.e2e
def test_the_ui_sees_a_described_model_training_experiment(tracked_study, config):
    """The experiment is tagged as model training and described; each study run carries
    its strategy, seed, budget and best result (MLflow's UI: tests/test_mlflow_ui.py)."""
    run = tracked_study
    client, runs = mlflow_runs(_sqlite(run), config["experiment"])
    experiment = client.get_experiment_by_name(config["experiment"])
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert "- Strategies: random, tpe;" in experiment.tags["mlflow.note.content"]
    tracking = json.loads((run.results / "tracking" / "experiment.json").read_text())
    assert tracking["ui_path"] == f"#/experiments/{experiment.experiment_id}/runs?" \
                                  "workflowType=machine_learning"
    studies = {r.data.tags["strategy"]: r for r in runs if r.data.tags.get("role") == "study"}
    note = studies["tpe"].data.tags["mlflow.note.content"]
    assert note.startswith("Study **tpe**: strategy tpe, seed 5, budget 4 trials.")
    best = studies["tpe"].data.metrics["best_objective"]
    assert f"- Best objective {best:.6g}, trial {studies['tpe'].data.tags['best_trial']}" in note


def test_the_experiment_description_lists_only_fixed_objective_settings():
    """The CNN searches learning_rate and momentum: the Objective line states the settings
    every trial shares, not a searched setting's default (listed under Search space)."""
    from hpstudy.plan import Plan
    from hpstudy.tracking.notes import experiment_note, experiment_setup

    plan = Plan.from_config(load_config("default"))
    assert {"learning_rate", "momentum"} <= set(plan.config["space"])
    note = experiment_note("described", experiment_setup(plan, strategies=False))
    objective = next(line for line in note.splitlines() if line.startswith("- Objective:"))
    assert "epochs" in objective
    assert "learning_rate" not in objective and "momentum" not in objective, objective
    assert "`learning_rate`: loguniform" in note and "`momentum`: loguniform" in note


def test_descriptions_are_rewritten_not_repeated(tmp_path, monkeypatch):
    """The tracking jobs as the workflow calls them, twice: the study run's note holds its
    results and the report's verdict on its strategy once; an existing experiment gets the
    model-training kind unless it has a kind already."""
    from mlflow import MlflowClient

    from hpstudy.plan import Plan
    from hpstudy.tracking.notes import experiment_setup
    from hpstudy.tracking.runs import finish_studies, init_tracking, start_study

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    plan = Plan.from_config(load_config("tracking"))
    (tmp_path / "trials.csv").write_text(
        "trial,round,x,y,objective,status\n0,0,1.0,2.0,17.5,ok\n1,0,3.0,4.0,,failed\n"
        "2,1,2.5,3.5,4.25,ok\n")
    (tmp_path / "verdict.csv").write_text(
        "strategy,reference,sentence\ntpe,random,tpe beat random on 6 of 7 seeds.\n"
        "gp,random,gp did not beat random.\n")
    init_tracking("described", "experiment.json", experiment_setup(plan, strategies=False))
    client = MlflowClient()
    note = client.get_experiment_by_name("described").tags["mlflow.note.content"]
    assert "- Strategies: one study run per strategy and seed (base seed 5)" in note
    for _ in range(2):
        start_study("experiment.json", "tpe", "tpe", "cafe", "tpe.json", seed=5, budget=3)
        finish_studies([("tpe", "tpe.json", "trials.csv", [], "finished.json")],
                       verdict="verdict.csv", setup=experiment_setup(plan))
    note = client.get_experiment_by_name("described").tags["mlflow.note.content"]
    assert "- Strategies: random, tpe; one study run per strategy and seed (random: 1 " \
           "seed; tpe: 1 seed; base seed 5)" in note
    run = client.get_run(json.loads((tmp_path / "tpe.json").read_text())["run_id"])
    assert run.data.tags["mlflow.note.content"] == (
        "Study **tpe**: strategy tpe, seed 5, budget 3 trials.\n\n**Results**\n\n"
        "- 2 of 3 trials ok\n- Best objective 4.25, trial 2\n- Verdict of the report:\n"
        "  - tpe beat random on 6 of 7 seeds.")
    assert run.data.metrics["best_objective"] == 4.25 and run.data.tags["best_trial"] == "2"
    # No verdict file (a report without one): the results, no verdict, nothing else.
    finish_studies([("tpe", "tpe.json", "trials.csv", [], "finished.json")],
                   verdict=str(tmp_path / "absent.csv"))
    assert client.get_run(run.info.run_id).data.tags["mlflow.note.content"].endswith(
        "- Best objective 4.25, trial 2")
    untagged = client.create_experiment("untagged")
    chosen = client.create_experiment("chosen",
                                      tags={"mlflow.experimentKind": "genai_development"})
    init_tracking("untagged", "untagged.json", experiment_setup(plan, strategies=False))
    init_tracking("chosen", "chosen.json")
    assert client.get_experiment(untagged).tags["mlflow.experimentKind"] == \
        "custom_model_development"
    assert client.get_experiment(chosen).tags["mlflow.experimentKind"] == "genai_development"
    assert "mlflow.note.content" not in client.get_experiment(chosen).tags


@pytest.mark.e2e
def test_adding_a_repeat_starts_no_existing_study_again(tracked_study, config, tmp_path):
    """The experiment's description names the strategies and their seeds once they finish:
    a repeat added reruns neither init_tracking nor (through it) the studies already run."""
    # A copy: even a dry run may leave Snakemake's records behind in the study.
    run = copy_study(tracked_study, tmp_path / "copy")
    changed = tmp_path / "repeats.yaml"
    changed.write_text(yaml.safe_dump({**config, "repeats": 2}, sort_keys=False))
    planned = run.snakemake("-n", "--configfile", str(changed))
    rules, started = [], []  # each planned job's rule; the studies of start_study jobs
    for line in (planned.stdout + planned.stderr).splitlines():
        if rule := re.match(r"(?:local)?rule (\w+):$", line):
            rules.append(rule.group(1))
        elif rules[-1:] == ["start_study"] and (study := re.match(r"\s+wildcards: study=(\S+)",
                                                                   line)):
            started.append(study.group(1))
    assert "init_tracking" not in rules
    assert sorted(started) == ["random-repeat1", "tpe-repeat1"]


@pytest.mark.e2e
def test_forced_rerun_updates_instead_of_duplicating(tracked_study, config, tmp_path):
    run = copy_study(tracked_study, tmp_path / "copy")
    client, before = mlflow_runs(_sqlite(run), config["experiment"])
    trial_run = next(r for r in before if r.data.tags.get("role") == "trial")
    history_before = client.get_metric_history(trial_run.info.run_id, "fold_0/value")
    assert len(history_before) == 1
    run.snakemake("--cores", "2", "--forcerun", "init_tracking", "start_study", "score_trial",
                  "finish_studies")
    client, after = mlflow_runs(_sqlite(run), config["experiment"])
    assert sorted(r.info.run_id for r in after) == sorted(r.info.run_id for r in before)
    assert client.get_metric_history(trial_run.info.run_id, "fold_0/value") == history_before
    check_run_tree(_sqlite(run), config, run.results)


@pytest.mark.e2e
def test_a_fresh_store_gets_every_trial_again_without_training(tracked_study, config,
                                                               tmp_path):
    """docs/mlflow.md: a deleted mlflow.db and `--forcerun init_tracking`: the experiment
    and study runs are made anew and finish_studies logs every trial into them (their
    markers name the old study runs); no trial is trained or scored again."""
    run = copy_study(tracked_study, tmp_path / "copy")
    for path in run.results.glob("mlflow.db*"):
        path.unlink()
    result = run.snakemake("--cores", "2", "--forcerun", "init_tracking")
    output = result.stdout + result.stderr
    assert "rule score_trial:" not in output and "rule train_fold:" not in output
    logged = (run.results / "logs" / "finish_studies.log").read_text()
    assert "logged 7 trials pending or in an earlier study run: " in logged
    assert check_run_tree(_sqlite(run), config, run.results) == {"study": 2, "trial": 7}


@pytest.mark.e2e
def test_run_left_running_by_a_kill_is_finished_by_the_rerun(tracked_study, config, tmp_path):
    run = copy_study(tracked_study, tmp_path / "copy")
    client, runs = mlflow_runs(_sqlite(run), config["experiment"])
    victim = next(r for r in runs if r.data.tags.get("role") == "trial"
                  and r.data.tags["strategy"] == "tpe" and r.data.tags["trial"] == "3")
    # What a SIGKILL in the middle of the logging of score_trial (which scores and logs a
    # trial) leaves: the run RUNNING, no marker file.
    client.update_run(victim.info.run_id, status="RUNNING")
    (run.results / "tpe" / "trials" / "3" / "mlflow.json").unlink()
    result = run.snakemake("--cores", "2")
    assert "rule score_trial:" in result.stdout + result.stderr
    assert client.get_run(victim.info.run_id).info.status == "FINISHED"
    check_run_tree(_sqlite(run), config, run.results)


@pytest.mark.e2e
def test_changed_config_makes_new_mlflow_runs(tracked_study, config, tmp_path):
    """The tracked study again with another seed, its random strategy only: new study and
    trial runs beside the first ones, which are all kept."""
    run = copy_study(tracked_study, tmp_path / "copy")
    _, before = mlflow_runs(_sqlite(run), config["experiment"])
    config["seed"] = 6
    config["strategies"] = {"random": config["strategies"]["random"]}
    run.write_config(config)
    run.snakemake("--cores", "2")
    _, runs = mlflow_runs(_sqlite(run), config["experiment"])
    studies = [r for r in runs
               if r.data.tags.get("role") == "study" and r.data.tags["strategy"] == "random"]
    assert len(studies) == 2 and len({r.data.tags["study_hash"] for r in studies}) == 2
    trials = [r for r in runs
              if r.data.tags.get("role") == "trial" and r.data.tags["strategy"] == "random"]
    assert len(trials) == 2 * 3
    # The first seed's runs (random's and tpe's) are all still there.
    assert {r.info.run_id for r in before} < {r.info.run_id for r in runs}
    assert len(runs) == len(before) + 1 + 3


@pytest.mark.e2e
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
    # It stopped before scoring: a trial's scoring job logs it, so it waits for its study's
    # run. What ran is kept: round 0's folds are trained (per_fold), nothing is scored.
    from hpstudy.plan import Plan

    plan = Plan.from_config(config)
    for strategy in plan.strategies:
        first = plan.rounds(strategy)[0]
        assert len(list((run.results / strategy / "trials").glob("*/fold_*_timing.json"))) \
            == len(first) * plan.folds
    assert not list(run.results.glob("*/trials/*/score.json"))
    # The credentials appear nowhere: not in Snakemake's output, logs or metadata.
    assert "s3cret-token" not in output
    for path in list(run.path.joinpath("results").rglob("*")) + \
            list(run.path.joinpath(".snakemake").rglob("*")):
        if path.is_file() and path.suffix in {".log", ".json", ".csv", ""}:
            assert b"s3cret-token" not in path.read_bytes(), path
    # Back online (the sqlite default): the next run does what is missing, no fold again.
    resumed = run.snakemake("--cores", "2")
    assert (resumed.stdout + resumed.stderr).count("rule train_fold:") == \
        sum(len(plan.trials(s)) - len(plan.rounds(s)[0]) for s in plan.strategies) * plan.folds
    check_run_tree(_sqlite(run), config, run.results)


@pytest.mark.e2e
def test_tracking_server_receives_the_same_run_tree(server_study, config):
    """The run against a server whose URI carries credentials (what they reach:
    tests/test_security.py) logs the same tree as the sqlite default."""
    run, url, _, _ = server_study
    assert not (run.results / "mlflow.db").exists(), "logged to sqlite instead of the server"
    counts = check_run_tree(url, config, run.results)
    assert counts == {"study": 2, "trial": 7}


@pytest.mark.e2e  # 8 writer processes on 2 cores: minutes, too long for the unit tier
def test_eight_concurrent_writers_into_sqlite(tmp_path):
    """8 processes x 20 trials into the sqlite default at once: no error, no duplicate. (The
    writers start together and log for their whole lives side by side: more trials each
    would repeat the same contention for longer.)"""
    database = tmp_path / "results" / "mlflow.db"
    database.parent.mkdir()
    uri = f"sqlite:///{database}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri,
           "PYTHONPATH": os.pathsep.join([str(REPO / "workflow"), str(REPO)])}
    strategies = [f"writer{i}" for i in range(8)]
    subprocess.run([sys.executable, "-c",
                    "import sys; from hpstudy.tracking.runs import init_tracking, start_study; "
                    "init_tracking('concurrency', 'experiment.json'); "
                    "[start_study('experiment.json', s, s, 'cafe', f'{s}.json') "
                    "for s in sys.argv[1:]]",
                    *strategies], check=True, env=env, cwd=tmp_path, timeout=300)
    writers = [subprocess.Popen([sys.executable, str(REPO / "tests/helpers/tracking_writer.py"),
                                 str(tmp_path / f"{strategy}.json"), strategy, "20"],
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
    assert len(keys) == 160 and len(set(keys)) == 160
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

    from hpstudy.tracking.client import log_batch

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

    from hpstudy.tracking.client import create_sqlite_atomically

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


def test_a_sqlite_store_that_cannot_be_opened_fails_each_attempt_before_mlflow_tries(
        tmp_path, monkeypatch):
    """MLflow retries opening an sqlite store it cannot open ten times over ~100 s, inside
    each of our attempts (a full disk made one logging job take 200 s): retry() opens the DB
    itself first, so an attempt fails at once with sqlite's own words, and MLflow is not
    called. A store that can be opened, or is not created yet, goes to MLflow as before."""
    from hpstudy.tracking.client import TrackingError, create_sqlite_atomically, retry

    database = tmp_path / "mlflow.db"
    database.write_bytes(b"not an sqlite database, as a damaged file would be" * 100)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{database}")
    calls = []
    with pytest.raises(TrackingError, match=r"failed after 2 attempts at sqlite:///.*: "
                                            r"DatabaseError: file is not a database"):
        retry(lambda: calls.append(1), "logging of a test", attempts=2, first_delay=0)
    assert calls == []
    database.unlink()
    assert retry(lambda: calls.append(1) or "made", "a first write", attempts=1) == "made"
    create_sqlite_atomically(f"sqlite:///{database}")
    assert retry(lambda: calls.append(1) or "logged", "logging", attempts=1) == "logged"
    assert calls == [1, 1]


def test_find_runs_pages_through_every_run_of_a_prefix_and_no_other(tmp_path, monkeypatch):
    """One search for a study's trial runs (log_rounds) instead of one per trial: every page
    of results is read, deleted runs are found too (a rerun restores them), and a key that
    only LIKE's `_` wildcard matches is not taken for one of them."""
    from mlflow import MlflowClient

    from hpstudy.tracking import client as tracking_client
    from hpstudy.tracking.client import KEY_TAG, find_runs

    monkeypatch.setattr(tracking_client, "SEARCH_PAGE", 2)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("pages")
    keys = [f"h/optuna_tpe/trial-{t}" for t in range(5)] + ["h/optunaXtpe/trial-0",
                                                           "h/optuna_tpe-repeat1/trial-0"]
    ids = {key: client.create_run(experiment, tags={KEY_TAG: key}).info.run_id
           for key in keys}
    client.delete_run(ids["h/optuna_tpe/trial-3"])

    found = find_runs(client, experiment, "h/optuna_tpe/trial-")
    assert {key: run.info.run_id for key, run in found.items()} == \
        {key: ids[key] for key in keys[:5]}
    assert found["h/optuna_tpe/trial-3"].info.lifecycle_stage == "deleted"
    assert find_runs(client, experiment, "h/gp/trial-") == {}


def test_log_rounds_logs_each_trial_once_and_a_rerun_adds_nothing(tmp_path, monkeypatch):
    """A study's rounds logged by one job (per_study's log_study): a run per trial, the
    study's run its parent; the same job again (a lost marker, a forced rerun) updates those
    runs, finding them with its one search: no second run, no second metric value."""
    from hpstudy import fileio
    from hpstudy.tracking import runs
    from tests.helpers.tracking import mlflow_runs

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    runs.init_tracking("study", str(tmp_path / "experiment.json"))
    runs.start_study(str(tmp_path / "experiment.json"), "tpe", "tpe", "hash1",
                     str(tmp_path / "tpe.json"), seed=3, budget=4)
    rounds = []
    for index, trials in enumerate([[0, 1], [2, 3]]):
        scores = [{"trial": t, "params": {"x": float(t)}, "seed": t, "folds": 1,
                   "objective": 1.0 / (t + 1), "status": "ok", "metrics": {"loss": 0.5}}
                  for t in trials]
        folds = [{"trial": t, "fold": 0, "seed": 10 + t, "status": "ok", "epochs_run": 0,
                  "history": {}, "metrics": {"value": 1.0 / (t + 1)}} for t in trials]
        timings = [{"trial": t, "fold": 0, "fit_seconds": 0.1, "fit_cpu_seconds": 0.1}
                   for t in trials]
        rounds.append((index, {"scores": scores, "folds": folds}, timings,
                       str(tmp_path / f"round_{index}_mlflow.json")))

    runs.log_rounds(str(tmp_path / "tpe.json"), "tpe", "tpe", rounds, None)
    first = {index: fileio.read_json(marker)["run_ids"] for index, *_, marker in rounds}
    runs.log_rounds(str(tmp_path / "tpe.json"), "tpe", "tpe", rounds, None)
    again = {index: fileio.read_json(marker)["run_ids"] for index, *_, marker in rounds}

    assert again == first and [sorted(first[0]), sorted(first[1])] == [["0", "1"], ["2", "3"]]
    client, found = mlflow_runs(uri, "study")
    trial_runs = [run for run in found if run.data.tags.get("role") == "trial"]
    study_run = fileio.read_json(tmp_path / "tpe.json")["run_id"]
    assert sorted(run.data.tags["trial"] for run in trial_runs) == ["0", "1", "2", "3"]
    assert {run.data.tags["mlflow.parentRunId"] for run in trial_runs} == {study_run}
    assert {run.data.tags["round"] for run in trial_runs} == {"0", "1"}
    for run in trial_runs:
        assert run.info.status == "FINISHED"
        assert len(client.get_metric_history(run.info.run_id, "objective")) == 1


def _study_rounds(tmp_path) -> list[tuple]:
    """Two rounds of a study's results as per_round / per_study write them: a trial with a
    per-epoch history and a NaN epoch, a diverged one, a failed one with its reason."""
    def trial(t, status="ok", objective=None, history=None, reason=None):
        score = {"trial": t, "params": {"x": float(t), "kind": "a"}, "seed": t, "folds": 2,
                 "objective": objective, "status": status,
                 "metrics": {"loss_mean": 0.5 + t, "loss_std": 0.1}}
        folds = [{"trial": t, "fold": k, "seed": 10 * t + k, "status": status,
                  "epochs_run": 3, "history": history or {},
                  "metrics": {"loss": 0.4 + k, "accuracy": 0.9}} for k in range(2)]
        if reason:
            score["reason"] = folds[0]["reason"] = reason
        timings = [{"trial": t, "fold": k, "fit_seconds": 0.25 * k, "fit_cpu_seconds": 0.5}
                   for k in range(2)]
        return score, folds, timings

    made = [trial(0, objective=0.7, history={"loss": [1.0, float("nan"), 0.4]}),
            trial(1, "diverged"), trial(2, "failed", reason="out of memory"),
            trial(3, objective=0.2, history={"loss": [0.9, 0.5, 0.3], "val": [2.0, 1.0, 1.0]})]
    rounds = []
    for index, trials in enumerate([made[:2], made[2:]]):
        results = {"scores": [s for s, _, _ in trials], "folds": [f for _, fs, _ in trials
                                                                  for f in fs]}
        rounds.append((index, results, [t for _, _, ts in trials for t in ts],
                       str(tmp_path / f"round_{index}_mlflow.json")))
    return rounds


def _multi_fidelity_rounds(tmp_path) -> list[tuple]:
    """Three rounds of a Hyperband bracket's results: configurations 0-2 at 1 epoch, 0 and 2
    promoted to 3 epochs (trials 3 and 4, continuing their curves from epoch 1), 2 to 9
    (trial 5), where it fails."""
    def rung(t, config, rung, fidelity, loss, status="ok"):
        score = {"trial": t, "config_trial": config, "bracket": 0, "rung": rung,
                 "fidelity": fidelity, "params": {"x": float(config)}, "seed": t, "folds": 1,
                 "objective": loss if status == "ok" else None, "status": status,
                 "metrics": {"loss_mean": loss}}
        first = {1: 0, 3: 1, 9: 3}[fidelity]
        folds = [{"trial": t, "fold": 0, "seed": 10 * t, "status": status, "epochs_run":
                  fidelity - first, "first_epoch": first, "metrics": {"loss": loss},
                  "history": {"loss": [loss + 0.1 * e for e in range(fidelity - first, 0,
                                                                       -1)]}}]
        if status == "failed":
            score["reason"] = folds[0]["reason"] = "out of memory"
        return score, folds, [{"trial": t, "fold": 0, "fit_seconds": 0.1 * fidelity,
                               "fit_cpu_seconds": 0.2}]

    made = [[rung(0, 0, 0, 1, 0.5), rung(1, 1, 0, 1, 0.9), rung(2, 2, 0, 1, 0.4)],
            [rung(3, 0, 1, 3, 0.3), rung(4, 2, 1, 3, 0.2)],
            [rung(5, 2, 2, 9, 0.0, "failed")]]
    return [(index, {"scores": [s for s, _, _ in trials],
                     "folds": [f for _, fs, _ in trials for f in fs]},
             [t for _, _, ts in trials for t in ts], str(tmp_path / f"round_{index}_mlflow.json"))
            for index, trials in enumerate(made)]


def test_run_ids_by_key_finds_what_find_run_finds_with_one_query(tmp_path, monkeypatch):
    """bulk.run_ids_by_key (log_trial's check that its trial has no run yet) against
    MLflow's own search (client.find_run): the same run for every key, deleted runs
    included, another experiment's run with the same key not taken, the latest of two."""
    from mlflow import MlflowClient

    from hpstudy.tracking.bulk import run_ids_by_key
    from hpstudy.tracking.client import KEY_TAG, find_run

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment, other = client.create_experiment("keys"), client.create_experiment("other")
    keys = ["h/tpe/trial-0", "h/tpe/trial-1", "h/tpe/trial-2", "h/gp/trial-0"]
    ids = {key: client.create_run(experiment, tags={KEY_TAG: key}, start_time=1000).info.run_id
           for key in keys}
    client.delete_run(ids["h/tpe/trial-1"])
    client.create_run(other, tags={KEY_TAG: "h/tpe/trial-3"})
    later = client.create_run(experiment, tags={KEY_TAG: "h/gp/trial-0"}, start_time=2000)

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    store = SQL_STORE()
    asked = [*keys, "h/tpe/trial-3", "h/tpe/trial-"]
    found = run_ids_by_key(store, experiment, asked, KEY_TAG)
    assert found == {key: run.info.run_id for key in asked
                     if (run := find_run(client, experiment, key)) is not None}
    assert found == {**{key: ids[key] for key in keys[:3]}, "h/gp/trial-0": later.info.run_id}
    assert run_ids_by_key(store, other, keys, KEY_TAG) == {}


def _trial_requests(tmp_path, rounds) -> list[tuple[dict, str, list[str]]]:
    """Each trial of these rounds written as its scoring job leaves it (score, fold
    records, timings) and what that job logs it with: (trial_request, its marker's path,
    the rung below's markers)."""
    from hpstudy.tracking import runs

    def write(path, record):  # as Python's json writes it: a NaN epoch stays NaN
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record), encoding="utf-8")

    made, markers_of_round = [], {}
    for index, results, timings, _ in rounds:
        for score in results["scores"]:
            trial = score["trial"]
            directory = tmp_path / "trials" / str(trial)
            files = {"score": directory / "score.json", "folds": [], "timings": []}
            write(files["score"], score)
            for record in (f for f in results["folds"] if f["trial"] == trial):
                path = directory / f"fold_{record['fold']}.json"
                write(path, record)
                files["folds"].append(str(path))
            for timing in (t for t in timings if t["trial"] == trial):
                path = directory / f"fold_{timing['fold']}_timing.json"
                write(path, timing)
                files["timings"].append(str(path))
            marker = str(directory / "mlflow.json")
            markers_of_round.setdefault(index, []).append(marker)
            # A promoted trial's rung below: the round before it in these brackets.
            below = markers_of_round.get(index - 1, []) if "rung" in score and \
                score["rung"] > 0 else []
            made.append((runs.trial_request(str(tmp_path / "tpe.json"), "tpe", "tpe", index,
                                            str(files["score"]), files["folds"],
                                            files["timings"], None), marker, below))
    return made


def _logged_study(tmp_path, monkeypatch, bulk_writes: bool, per_trial: bool = False,
                  study_rounds=_study_rounds) -> dict:
    """A study's rounds (_study_rounds) logged by log_rounds (per_trial: each trial by the
    job that scored it, log_trial_here) into a fresh store, with or without the bulk
    writer; every trial run as what MLflow's client reads back of it."""
    from mlflow import MlflowClient

    from hpstudy.tracking import bulk, runs

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    # Each call patches MLflow's own functions afresh (a test's patches last to its end).
    monkeypatch.setattr(bulk, "sql_store", SQL_STORE if bulk_writes else lambda: None)
    writes = []
    monkeypatch.setattr(bulk, "create_finished_runs",
                        lambda *args: writes.append(len(args[2])) or CREATE_RUNS(*args))
    runs.init_tracking("study", str(tmp_path / "experiment.json"))
    runs.start_study(str(tmp_path / "experiment.json"), "tpe", "tpe", "hash1",
                     str(tmp_path / "tpe.json"), seed=3, budget=4)
    rounds = study_rounds(tmp_path)
    if per_trial:
        for request, marker, below in _trial_requests(tmp_path, rounds):
            runs.log_trial_here(request, marker, below)
            assert "run_id" in json.loads(Path(marker).read_text())
        # A transaction per new run (a promoted trial logs onto its configuration's).
        configs = {runs.config_trial(s) for _, r, _, _ in rounds for s in r["scores"]}
        assert writes == ([1] * len(configs) if bulk_writes else [])
    else:
        runs.log_rounds(str(tmp_path / "tpe.json"), "tpe", "tpe", rounds, None)
        configs = {runs.trial_key({"study_hash": "hash1"}, "tpe", score)
                   for _, results, _, _ in rounds for score in results["scores"]}
        assert writes == ([len(configs)] if bulk_writes else [])  # one transaction, or none
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("study").experiment_id
    logged = {}
    for run in client.search_runs([experiment], "tags.role = 'trial'"):
        info, start = run.info, run.info.start_time
        assert start <= info.end_time
        assert info.artifact_uri.endswith(f"/{info.run_id}/artifacts")
        assert run.data.tags["mlflow.parentRunId"] == \
            client.search_runs([experiment], "tags.role = 'study'")[0].info.run_id
        tags = {k: v for k, v in run.data.tags.items() if k != "mlflow.parentRunId"}
        logged[tags["trial"]] = {
            "info": (info.run_name, info.status, info.lifecycle_stage, info.user_id,
                     info.artifact_uri.replace(info.run_id, "RUN").replace(
                         tmp_path.resolve().as_uri(), "DIR")),
            "params": run.data.params, "tags": tags, "metrics": run.data.metrics,
            # NaN as text: it equals nothing, itself included.
            "history": {key: sorted((m.step, m.timestamp - start,
                                     "nan" if math.isnan(m.value) else m.value)
                                    for m in client.get_metric_history(info.run_id, key))
                        for key in run.data.metrics},
            "found_by": [r.info.run_id for r in client.search_runs(
                [experiment], f"metrics.objective < 0.5 and params.x = '{tags['trial']}.0'")]
            == ([info.run_id] if tags["trial"] == "3" else []),
        }
    return logged


def test_runs_written_in_one_transaction_read_back_as_the_clients_own(tmp_path, monkeypatch):
    """hpstudy.tracking.bulk writes MLflow's tables itself: what MLflow's client reads back
    of those runs (info, params, tags, latest metrics, every metric's history with its
    steps and timestamps, NaN included; searches by metric and param) must be what its own
    create_run, log_batch and set_terminated calls leave."""
    by_client = _logged_study(tmp_path / "client", monkeypatch, bulk_writes=False)
    by_bulk = _logged_study(tmp_path / "bulk", monkeypatch, bulk_writes=True)
    assert sorted(by_bulk) == ["0", "1", "2", "3"]
    assert by_bulk == by_client
    assert by_bulk["2"]["info"][1] == "FAILED" and by_bulk["2"]["tags"]["reason"] == \
        "out of memory"
    losses = [value for _, _, value in by_bulk["0"]["history"]["fold_0/loss"]]
    assert losses == [1.0, "nan", 0.4]
    assert all(run["found_by"] for run in by_bulk.values())
    # Each trial logged by the job that scored it writes its new run the same way.
    assert _logged_study(tmp_path / "trials", monkeypatch, bulk_writes=True,
                         per_trial=True) == by_client


def test_a_configurations_rungs_written_at_once_read_back_as_logged_one_by_one(tmp_path,
                                                                               monkeypatch):
    """A multi-fidelity study logged by one job (per_study): each configuration's run is
    written once with all its rungs (runs.merged_content), and MLflow's client reads back
    what its own calls leave when the first rung creates the run and each promotion logs
    onto it: every rung's epochs on one curve, the latest rung's tags and status, each
    rung's trial id."""
    by_client = _logged_study(tmp_path / "client", monkeypatch, bulk_writes=False,
                              study_rounds=_multi_fidelity_rounds)
    by_bulk = _logged_study(tmp_path / "bulk", monkeypatch, bulk_writes=True,
                            study_rounds=_multi_fidelity_rounds)
    assert sorted(by_bulk) == ["0", "1", "2"] and by_bulk == by_client
    # Each rung logged by the job that scored it (per_trial, per_fold), in rung order.
    assert _logged_study(tmp_path / "trials", monkeypatch, bulk_writes=True, per_trial=True,
                         study_rounds=_multi_fidelity_rounds) == by_client
    config = by_bulk["2"]
    assert config["info"][1] == "FAILED" and config["tags"]["reason"] == "out of memory"
    assert [config["tags"][f"rung_{r}.trial"] for r in range(3)] == ["2", "4", "5"]
    assert (config["tags"]["rung"], config["tags"]["fidelity"]) == ("2", "9")
    assert [step for step, *_ in config["history"]["fold_0/loss"]] == list(range(9))
    assert [step for step, *_ in config["history"]["objective"]] == [1, 3]
    assert by_bulk["1"]["tags"]["rung"] == "0" and "rung_1.trial" not in by_bulk["1"]["tags"]


def _started_study(tmp_path, monkeypatch) -> str:
    """A fresh sqlite store with the tpe study's run started in it: its URI."""
    from hpstudy.tracking import runs

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    runs.init_tracking("study", str(tmp_path / "experiment.json"))
    runs.start_study(str(tmp_path / "experiment.json"), "tpe", "tpe", "hash1",
                     str(tmp_path / "tpe.json"), seed=3, budget=4)
    return uri


def _trial_runs(uri: str) -> dict:
    """{trial: (status, objective, fold_0/loss history)} of the store's trial runs."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("study").experiment_id
    return {run.data.tags["trial"]: (
        run.info.status, run.data.metrics.get("objective"),
        [(m.step, "nan" if math.isnan(m.value) else m.value)  # NaN equals nothing
         for m in client.get_metric_history(run.info.run_id, "fold_0/loss")])
        for run in client.search_runs([experiment], "tags.role = 'trial'")}


def test_a_trial_its_job_cannot_log_is_pending_and_finish_studies_logs_it(tmp_path,
                                                                          monkeypatch):
    """A scoring job whose MLflow does not answer marks its trial pending (why, and what to
    log it from) and does not fail; the catch-up (finish_studies) logs every pending trial
    once MLflow answers, in order, nothing twice when it runs again, and a trial logged
    already is left alone."""
    from hpstudy.tracking import runs

    uri = _started_study(tmp_path, monkeypatch)
    requests = _trial_requests(tmp_path, _study_rounds(tmp_path))
    runs.log_trial_here(*requests[0])  # MLflow answers: logged now
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("MLFLOW_TRACKING_URI", dead)
    for name, value in FAST_FAILURE.items():  # the catch-up's attempts too: 2
        monkeypatch.setenv(name, value)
    for request in requests[1:]:
        runs.log_trial_here(*request)
    markers = [json.loads(Path(marker).read_text()) for _, marker, _ in requests]
    assert "run_id" in markers[0] and "pending" not in markers[0]
    for trial, ((request, _, _), marker) in enumerate(zip(requests[1:], markers[1:],
                                                           strict=True), 1):
        assert marker["request"] == request
        assert marker["pending"].startswith(
            f"MLflow logging of tpe trial {trial} failed after {runs.INLINE_ATTEMPTS} "
            f"attempts at {dead}: ")
    # The catch-up with MLflow still away fails, naming the trial and the store.
    with pytest.raises(TrackingError, match="MLflow logging of tpe trial 1 failed after "):
        runs.catch_up_trials([marker for _, marker, _ in requests])

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    paths = [marker for _, marker, _ in requests]
    assert runs.catch_up_trials(paths) == paths[1:]
    logged = _trial_runs(uri)
    assert sorted(logged) == ["0", "1", "2", "3"]
    assert {trial: status for trial, (status, _, _) in logged.items()} == \
        {"0": "FINISHED", "1": "FINISHED", "2": "FAILED", "3": "FINISHED"}
    assert logged["3"][2] == [(0, 0.9), (1, 0.5), (2, 0.3)]
    # Again: the markers still say pending (each is its job's output), nothing logged twice.
    assert runs.catch_up_trials(paths) == paths[1:]
    assert _trial_runs(uri) == logged
    assert [json.loads(Path(p).read_text()) for p in paths] == markers


def test_a_cluster_job_leaves_the_sqlite_db_to_the_login_node(tmp_path, monkeypatch):
    """On a cluster node (CLUSTER_NODE_ENV, set by jobs.smk there) a scoring job does not
    write the run's sqlite DB: its trial is pending at once, without a try; with a tracking
    server it logs as anywhere."""
    from hpstudy.launch import CLUSTER_NODE_ENV
    from hpstudy.tracking import runs

    uri = _started_study(tmp_path, monkeypatch)
    monkeypatch.setenv(CLUSTER_NODE_ENV, "1")
    request, marker, below = _trial_requests(tmp_path, _study_rounds(tmp_path))[0]
    runs.log_trial_here(request, marker, below)
    assert json.loads(Path(marker).read_text()) == {
        "pending": "a cluster job does not write the run's sqlite DB", "request": request}
    assert _trial_runs(uri) == {}
    monkeypatch.delenv(CLUSTER_NODE_ENV)
    assert runs.catch_up_trials([marker]) == [marker]
    assert list(_trial_runs(uri)) == ["0"]


def test_a_study_run_made_anew_gets_its_trials_again(tmp_path, monkeypatch):
    """A trial logged into a study run that is no longer its study's (a new tracking URI:
    init_tracking and start_study made anew) is logged again by the catch-up, into the new
    store; a pending rung below holds its promoted trial back, so a configuration's rungs
    go onto its run in order."""
    from hpstudy.tracking import runs

    _started_study(tmp_path / "first", monkeypatch)
    rounds = _multi_fidelity_rounds(tmp_path)
    requests = _trial_requests(tmp_path / "first", rounds)
    for request in requests:
        runs.log_trial_here(*request)
    assert all("run_id" in json.loads(Path(m).read_text()) for _, m, _ in requests)

    second = tmp_path / "second"
    second.mkdir()
    uri = f"sqlite:///{second / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    runs.init_tracking("study", str(second / "experiment.json"))
    runs.start_study(str(second / "experiment.json"), "tpe", "tpe", "hash1",
                     str(tmp_path / "first" / "tpe.json"), seed=3, budget=4)
    paths = [marker for _, marker, _ in requests]
    assert runs.catch_up_trials(paths) == paths
    assert sorted(_trial_runs(uri)) == ["0", "1", "2"]

    # A promoted trial whose rung below is pending waits for the catch-up too.
    first_rung = json.loads(Path(paths[2]).read_text())
    Path(paths[2]).write_text(json.dumps({"pending": "away", "request": first_rung["request"]}),
                              encoding="utf-8")
    promoted = requests[4]  # trial 4: configuration 2 at 3 epochs, above trial 2
    runs.log_trial_here(*promoted)
    assert json.loads(Path(promoted[1]).read_text())["pending"] == \
        "the rung below is not logged yet"


def test_a_store_that_cannot_be_opened_is_left_to_the_clients_retries(tmp_path, monkeypatch):
    """The one-transaction writer needs MLflow's store open; when it cannot be (a full disk,
    a damaged file), log_trial takes the client's path, whose retries end in the
    TrackingError that names the trial, as before the writer existed."""
    from hpstudy.tracking import bulk, runs
    from hpstudy.tracking.client import TrackingError

    database = tmp_path / "mlflow.db"
    database.write_bytes(b"not an sqlite database, as a damaged file would be" * 100)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{database}")
    monkeypatch.setenv("HPSTUDY_MLFLOW_ATTEMPTS", "2")
    monkeypatch.setenv("HPSTUDY_MLFLOW_RETRY_DELAY", "0")
    assert bulk.sql_store() is None
    (tmp_path / "tpe.json").write_text(json.dumps(
        {"experiment_id": "1", "study": "tpe", "strategy": "tpe", "study_hash": "h",
         "run_id": "0" * 32}), encoding="utf-8")
    _, results, timings, _ = _study_rounds(tmp_path)[0]
    with pytest.raises(TrackingError, match="MLflow logging of tpe trial 0 failed after 2 "
                                            "attempts"):
        runs.log_trial(str(tmp_path / "tpe.json"), "tpe", "tpe", 0, results["scores"][0],
                       results["folds"][:2], timings[:2], None, str(tmp_path / "m.json"))


def test_a_new_study_run_skips_the_search_for_its_trial_runs_and_a_rerun_finds_them(
        tmp_path, monkeypatch):
    """log_study: a study run created by the job has no trial runs, so the search for them
    (a scan of every run's key in the store) is skipped; a rerun, whose study run exists,
    searches, finds them and logs nothing twice."""
    from mlflow import MlflowClient

    from hpstudy.tracking import runs

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    searches = []
    monkeypatch.setattr(runs, "find_runs",
                        lambda *args: searches.append(args[2]) or FIND_RUNS(*args))
    runs.init_tracking("study", str(tmp_path / "experiment.json"))
    marked = []
    for _ in range(2):
        runs.log_study(str(tmp_path / "experiment.json"), "tpe", "tpe", "hash1", 3, 4,
                       str(tmp_path / "tpe.json"), _study_rounds(tmp_path), None)
        marked.append([json.loads(open(marker).read())["run_ids"]
                       for *_, marker in _study_rounds(tmp_path)])
    assert searches == ["hash1/tpe/trial-"]  # the rerun's search only
    assert marked[0] == marked[1] and len({i for m in marked[0] for i in m.values()}) == 4
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("study").experiment_id
    assert len(client.search_runs([experiment], "tags.role = 'trial'")) == 4


def test_a_strategys_studies_logged_by_one_job_each_under_its_own_run(tmp_path, monkeypatch):
    """log_studies (per_study: one job per strategy, for its studies and repeats): each
    study gets its run, described by its own seed, and its trials as that run's
    children."""
    from mlflow import MlflowClient

    from hpstudy.tracking import runs

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    runs.init_tracking("study", str(tmp_path / "experiment.json"))
    studies = []
    for seed, study in enumerate(["tpe", "tpe-repeat1"]):
        (tmp_path / study).mkdir()
        studies.append({"study": study, "study_hash": f"hash-{study}", "seed": seed,
                        "budget": 4, "tracking_output": str(tmp_path / f"{study}.json"),
                        "rounds": _study_rounds(tmp_path / study)})
    runs.log_studies(str(tmp_path / "experiment.json"), "tpe", studies, None)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("study").experiment_id
    for study in studies:
        run_id = json.loads(open(study["tracking_output"]).read())["run_id"]
        run = client.get_run(run_id)
        assert (run.data.tags["study"], run.data.tags["study_hash"]) == \
            (study["study"], study["study_hash"])
        children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{run_id}'")
        assert sorted(r.data.tags["trial"] for r in children) == ["0", "1", "2", "3"]
        assert {r.data.tags["study"] for r in children} == {study["study"]}
        markers = [json.loads(open(marker).read()) for *_, marker in study["rounds"]]
        assert {i for m in markers for i in m["run_ids"].values()} == \
            {r.info.run_id for r in children}


def test_init_tracking_indexes_the_runs_keys_of_a_new_and_an_older_store(tmp_path,
                                                                          monkeypatch):
    """A run is found by its key tag through an index (a scan of every run's tags without
    it): init_tracking adds it to a new store, and to one made before it existed."""
    import sqlite3

    from hpstudy.tracking import runs
    from hpstudy.tracking.client import RUN_KEY_INDEX

    def indexes(db):
        with sqlite3.connect(db) as connection:
            names = {name for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index'")}
            plan = " ".join(str(row) for row in connection.execute(
                "EXPLAIN QUERY PLAN SELECT run_uuid FROM tags WHERE key = ? AND value = ?",
                (KEY_TAG, "hash/study")))
        return names, plan

    monkeypatch.chdir(tmp_path)
    for name in ("new", "older"):
        db = tmp_path / f"{name}.db"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
        runs.init_tracking(name, f"{name}.json")
        if name == "older":  # a store from before the index: init_tracking adds it
            with sqlite3.connect(db) as connection:
                connection.execute(f"DROP INDEX {RUN_KEY_INDEX}")
            assert RUN_KEY_INDEX not in indexes(db)[0]
            runs.init_tracking(name, f"{name}.json")
        names, plan = indexes(db)
        assert RUN_KEY_INDEX in names and RUN_KEY_INDEX in plan, plan


# Holds the DB's write lock (as another job's open transaction would) until told to let go.
HOLD_WRITE_LOCK = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
connection.execute("ROLLBACK")
"""


def _finished_run(key: str) -> dict:
    """A run as runs._create_runs hands it to bulk.create_finished_runs."""
    from mlflow.entities import Metric, Param, RunTag

    return {"key": key, "name": f"run {key}", "start_time": 1000, "status": "FINISHED",
            "metrics": [Metric("objective", 0.5, 1000, 0)], "params": [Param("x", "1.0")],
            "tags": [RunTag("role", "trial")]}


def test_a_locked_store_fails_the_whole_transaction_and_the_next_try_writes_it_once(
        tmp_path, monkeypatch):
    """bulk writes on a sqlite3 connection of its own: while another process holds the
    DB's write lock, a transaction waits BUSY_TIMEOUT_S, fails with sqlite's "database is
    locked" (client.retry's to retry) and writes nothing, nor does one that fails after its
    first rows; once the lock is gone the next try writes the run once, and release_sqlite
    closes the connection (the write-ahead log back in mlflow.db)."""
    from hpstudy.tracking import bulk
    from hpstudy.tracking.client import release_sqlite

    _started_study(tmp_path, monkeypatch)
    tracking = json.loads((tmp_path / "tpe.json").read_text(encoding="utf-8"))
    experiment, parent = tracking["experiment_id"], tracking["run_id"]
    store = SQL_STORE()
    monkeypatch.setattr(bulk, "BUSY_TIMEOUT_S", 0.2)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITE_LOCK,
                               str(tmp_path / "mlflow.db")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            bulk.create_finished_runs(store, experiment, [_finished_run("h/tpe/trial-0")],
                                      parent, KEY_TAG)
    finally:
        holder.communicate("\n", timeout=60)
    assert bulk.run_ids_by_key(store, experiment, ["h/tpe/trial-0"], KEY_TAG) == {}
    # A failure after the run's row went in (a param twice: its table's key) takes that
    # row back out with the rest.
    twice = _finished_run("h/tpe/trial-0")
    twice["params"] *= 2
    with pytest.raises(sqlite3.IntegrityError):
        bulk.create_finished_runs(store, experiment, [twice], parent, KEY_TAG)
    assert bulk.run_ids_by_key(store, experiment, ["h/tpe/trial-0"], KEY_TAG) == {}
    [run_id] = bulk.create_finished_runs(store, experiment, [_finished_run("h/tpe/trial-0")],
                                         parent, KEY_TAG)
    assert bulk.run_ids_by_key(store, experiment, ["h/tpe/trial-0"], KEY_TAG) == \
        {"h/tpe/trial-0": run_id}
    assert (tmp_path / "mlflow.db-wal").exists()  # the connection is open: its log too
    release_sqlite()
    assert not (tmp_path / "mlflow.db-wal").exists()
    with sqlite3.connect(tmp_path / "mlflow.db") as reader:
        assert reader.execute("SELECT count(*) FROM runs WHERE name = 'run h/tpe/trial-0'"
                              ).fetchone() == (1,)


def test_a_connection_made_before_a_fork_is_left_to_its_process(tmp_path, monkeypatch):
    """A forked process (a job of the warm worker) opens its own connection rather than use
    one its parent made (a sqlite connection must not cross a fork), and the parent's goes
    on working after the child has written and closed its own."""
    from hpstudy.tracking import bulk
    from hpstudy.tracking.client import release_sqlite

    _started_study(tmp_path, monkeypatch)
    tracking = json.loads((tmp_path / "tpe.json").read_text(encoding="utf-8"))
    experiment, parent = tracking["experiment_id"], tracking["run_id"]
    store = SQL_STORE()
    assert bulk.run_ids_by_key(store, experiment, ["h/tpe/trial-0"], KEY_TAG) == {}
    made_before = bulk._connection(store)
    child = os.fork()
    if child == 0:  # pragma: no cover (runs in the forked process)
        code = 1
        try:
            code = 0 if bulk._connection(store) is not made_before else 2
            bulk.create_finished_runs(store, experiment, [_finished_run("h/tpe/trial-0")],
                                      parent, KEY_TAG)
            release_sqlite()
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert bulk._connection(store) is made_before
    assert list(bulk.run_ids_by_key(store, experiment, ["h/tpe/trial-0"], KEY_TAG)) == \
        ["h/tpe/trial-0"]
    release_sqlite()

"""Studies at the edges, run for real (issue 18): one in which no trial finishes ok, a trial
run deleted in MLflow and restored by a rerun, and a forced rerun of a CNN trial that must
not duplicate its folds' per-epoch metric history in MLflow."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from tests.helpers.configs import tiny_cnn_study
from tests.helpers.tracking import mlflow_runs
from tests.helpers.workdir import Workdir

pytestmark = pytest.mark.e2e

# Every learning rate of this space makes SGD diverge on the first epoch (test_cnn: 50 does).
DIVERGING_STUDY = tiny_cnn_study(
    "test-no-ok-trial", seed=4, split_seed=2,
    space={"learning_rate": {"type": "loguniform", "low": 50.0, "high": 500.0,
                             "grid": [50.0, 500.0]},
           "momentum": {"type": "loguniform", "low": 3.1623e-3, "high": 0.31623,
                        "transform": "complement", "grid": [0.9]}},
    strategies={"grid": {}, "random": {"budget": 1}})

# Two sane trials of a tiny CNN, 2 epochs: each fold has a 2-step history in MLflow.
TRACKED_STUDY = tiny_cnn_study(
    "test-edge-tracking", seed=21, split_seed=0,
    space={"learning_rate": {"type": "loguniform", "low": 0.01, "high": 0.1}},
    strategies={"random": {"budget": 2}})
HISTORY_KEYS = ("accuracy", "loss", "val_accuracy", "val_loss")


@pytest.fixture(scope="module")
def diverging_study(tmp_path_factory):
    run = Workdir(tmp_path_factory.mktemp("no-ok-trial"))
    run.write_config(DIVERGING_STUDY)
    run.snakemake("--cores", "2")  # fails the test if the workflow does not finish
    return run


def test_a_study_with_no_ok_trial_finishes_and_says_so(diverging_study):
    results = diverging_study.results
    penalty = math.log10(1 - 1 / 10)  # a chance-level model's objective
    for strategy, trials in (("grid", 2), ("random", 1)):
        table = pd.read_csv(results / strategy / "trials.csv")
        assert len(table) == trials
        assert (table["status"] == "diverged").all(), table
        assert table["objective"].tolist() == pytest.approx([penalty] * trials)
        for trial in table["trial"]:
            for fold in range(2):
                record = json.loads(
                    (results / strategy / f"trials/{trial}/fold_{fold}.json").read_text())
                assert record["status"] == "diverged" and record["epochs_run"] == 1
        # The held-out test has no trial to retrain.
        test = json.loads((results / strategy / "test.json").read_text())
        assert test == {"strategy": strategy, "status": "no_ok_trial"}
    comparison = pd.read_csv(results / "report" / "comparison.csv").set_index("strategy")
    assert sorted(comparison.index) == ["grid", "random"]
    assert comparison["ok"].tolist() == [0, 0]
    assert comparison["failed_or_diverged"].tolist() == comparison["trials"].tolist()
    for column in ("best_objective", "test_objective", "best_trial"):
        assert comparison[column].isna().all(), column
    verdict = pd.read_csv(results / "report" / "verdict.csv")
    assert len(verdict) == 1
    row = verdict.iloc[0]
    assert (row["strategy"], row["reference"], row["seeds"]) == ("grid", "random", 0)
    assert not row["significant"]
    assert row["sentence"].startswith("Cannot conclude on grid against random: no seed has an ok")
    page = (results / "report" / "index.html").read_text()
    assert "Cannot conclude on grid against random" in page
    # The study runs are closed, with no best result.
    _, runs = mlflow_runs(f"sqlite:///{results / 'mlflow.db'}", DIVERGING_STUDY["experiment"])
    studies = [r for r in runs if r.data.tags.get("role") == "study"]
    assert sorted(r.data.tags["strategy"] for r in studies) == ["grid", "random"]
    for study in studies:
        assert study.info.status == "FINISHED"
        assert study.data.metrics["trials_ok"] == 0
        assert "best_objective" not in study.data.metrics
        assert "best_trial" not in study.data.tags
    trials = [r for r in runs if r.data.tags.get("role") == "trial"]
    assert len(trials) == 3 and all(r.data.tags["status"] == "diverged" for r in trials)


@pytest.fixture(scope="module")
def cnn_tracked_study(tmp_path_factory):
    """Trained and logged to MLflow (no report: the trials' markers are the targets). Not
    the session's cnn_study: here every trial trains both epochs (cnn_tiny's grid diverges on
    purpose), and the tests change the study."""
    run = Workdir(tmp_path_factory.mktemp("edge-tracking"))
    run.write_config(TRACKED_STUDY)
    run.snakemake("--cores", "2", *(logged(trial) for trial in range(2)))
    return run


def logged(trial: int) -> str:
    return f"results/random/trials/{trial}/mlflow.json"


def trial_runs(run: Workdir, trial: int):
    """(client, the runs of this trial, deleted ones included)."""
    client, runs = mlflow_runs(f"sqlite:///{run.results / 'mlflow.db'}",
                               TRACKED_STUDY["experiment"])
    return client, [r for r in runs if r.data.tags.get("role") == "trial"
                    and r.data.tags["trial"] == str(trial)]


def check_epoch_histories(client, run: Workdir, run_id: str, trial: int) -> None:
    """Each fold's per-epoch metrics: one entry per epoch trained, the fold record's."""
    for fold in range(2):
        record = json.loads((run.results / f"random/trials/{trial}/fold_{fold}.json")
                            .read_text())
        assert record["status"] == "ok" and record["epochs_run"] == 2
        for key in HISTORY_KEYS:
            history = client.get_metric_history(run_id, f"fold_{fold}/{key}")
            assert sorted(m.step for m in history) == [0, 1], (fold, key, history)
            assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(
                record["history"][key])
    objective = client.get_metric_history(run_id, "objective")
    assert len(objective) == 1, objective


def test_forced_rerun_of_a_cnn_trial_adds_no_epoch_history(cnn_tracked_study):
    run, marker = cnn_tracked_study, cnn_tracked_study.path / logged(0)
    run_id = json.loads(marker.read_text())["run_id"]
    client, _ = trial_runs(run, 0)
    check_epoch_histories(client, run, run_id, 0)
    fold = run.path / "results/random/trials/0/fold_0.json"
    before = json.loads(fold.read_text())
    output = run.snakemake("--cores", "2", "--forcerun", "results/random/trials/0/fold_0.json",
                           logged(0))
    log = output.stdout + output.stderr
    for rule in ("train_fold", "score_trial"):  # retrained, scored and logged again
        assert f"rule {rule}:" in log, rule
    assert json.loads(fold.read_text()) == before  # the same fit, to the bit
    client, runs = trial_runs(run, 0)
    assert [r.info.run_id for r in runs] == [run_id]  # updated, not duplicated
    assert json.loads(marker.read_text())["run_id"] == run_id
    check_epoch_histories(client, run, run_id, 0)


def test_a_deleted_trial_run_is_restored_by_a_rerun(cnn_tracked_study):
    """tracking.client.ensure_run finds the run by its key among deleted runs too, and
    restores it: the same run (id, history) is active again and logged, not a new one."""
    run, marker = cnn_tracked_study, cnn_tracked_study.path / logged(1)
    run_id = json.loads(marker.read_text())["run_id"]
    client, _ = trial_runs(run, 1)
    client.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    output = run.snakemake("--cores", "2", "--forcerun", logged(1), logged(1))
    log = output.stdout + output.stderr
    # Scored and logged again (score_trial), not retrained.
    assert "rule score_trial:" in log and "rule train_fold:" not in log
    client, runs = trial_runs(run, 1)
    assert [r.info.run_id for r in runs] == [run_id]
    restored = runs[0]
    assert restored.info.lifecycle_stage == "active"
    assert restored.info.status == "FINISHED"
    assert json.loads(marker.read_text())["run_id"] == run_id
    assert restored.data.tags["status"] == "ok"
    assert set(restored.data.params) == {"learning_rate"}
    check_epoch_histories(client, run, run_id, 1)

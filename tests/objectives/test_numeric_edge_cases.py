"""Numeric edge cases of the objective, checked in a real run of the workflow.

Perfect accuracy: 1 - accuracy is 0 and log10(0) is -inf; the CNN objective floors the error at
ERROR_FLOOR (1e-4), so a perfect trial scores log10(1e-4) = -4, a finite number that every
strategy, trials.csv, MLflow and the report can handle. Here the real CNN trains on the two
easiest digits (dataset.classes [0, 1]) until every fold's validation accuracy is exactly 1.0.

The other edge, a trial whose training diverges (loss NaN/inf or past the divergence limit),
is run for real by tests/objectives/test_cnn.py::test_grid_trials_train_and_one_diverges
(learning rate 50: status `diverged`, the chance-level penalty objective, the study goes on);
the unit-level perfect score by tests/objectives/test_cnn.py::test_perfect_accuracy_stays_finite.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from hpstudy.objectives.keras_classifier import ERROR_FLOOR
from tests.helpers.workdir import Workdir, load_config

FOLDS = 4


def perfect_config() -> dict:
    """cnn_tiny on digits 0 and 1 with the study's default model size (32 filters, 100 dense
    units) and one grid point. Measured here: with 4 folds every fold's validation accuracy
    is 1.0 from epoch 5 at the latest for split seeds 0-3; 12 epochs leave a margin. (The tiny
    model of cnn_tiny, 8 filters, kept one fold at 71/72 for 20 epochs with split seed 3.)"""
    config = load_config("cnn_tiny")
    config["experiment"] = "test-perfect-accuracy"
    config["dataset"] = {"name": "digits", "classes": [0, 1], "split_seed": 3}
    config["cv"]["folds"] = FOLDS
    config["objective"]["cnn"].update(filters=32, dense_units=100, epochs=12)
    config["space"]["learning_rate"]["grid"] = [0.05]
    config["space"]["momentum"]["grid"] = [0.9]
    config["strategies"] = {"grid": {}}
    config["execution"] = {"fold_jobs": "per_trial"}  # one TensorFlow import for the 4 folds
    return config


@pytest.fixture(scope="module")
def perfect_study(tmp_path_factory) -> Workdir:
    study = Workdir(tmp_path_factory.mktemp("perfect"))
    study.write_config(perfect_config())
    study.snakemake("--cores", "2")
    return study


@pytest.mark.slow
def test_only_the_chosen_classes_are_kept(perfect_study):
    metadata = json.loads((perfect_study.results / "data" / "dataset.json").read_text())
    assert metadata["classes"] == [0, 1] and metadata["original_labels"] == [0, 1]
    assert metadata["examples"] == 360  # digits has 178 zeros and 182 ones
    labels = np.load(perfect_study.results / "data" / "y.npy")
    assert np.bincount(labels).tolist() == [178, 182]


@pytest.mark.slow
def test_every_fold_is_really_perfect(perfect_study):
    trial = perfect_study.results / "grid" / "trials" / "0"
    for fold in range(FOLDS):
        record = json.loads((trial / f"fold_{fold}.json").read_text())
        assert record["status"] == "ok"
        assert record["classes"] == 2
        assert record["metrics"]["val_accuracy"] == 1.0, (fold, record["history"])
    table = pd.read_csv(perfect_study.results / "grid" / "trials.csv")
    assert len(table) == 1
    assert [table.loc[0, f"fold_{k}_accuracy"] for k in range(FOLDS)] == [1.0] * FOLDS
    assert table.loc[0, "cv_accuracy_mean"] == 1.0 and table.loc[0, "cv_accuracy_std"] == 0.0


@pytest.mark.slow
def test_perfect_accuracy_scores_the_error_floor_everywhere(perfect_study):
    floor = math.log10(ERROR_FLOOR)
    assert floor == -4.0
    score = json.loads((perfect_study.results / "grid" / "trials" / "0" / "score.json")
                       .read_text())
    assert score["status"] == "ok" and score["objective"] == floor
    table = pd.read_csv(perfect_study.results / "grid" / "trials.csv")
    assert table.loc[0, "status"] == "ok"
    assert math.isfinite(table.loc[0, "objective"]) and table.loc[0, "objective"] == floor
    # The report is written and carries the same finite number.
    assert (perfect_study.results / "report" / "index.html").stat().st_size > 0
    comparison = pd.read_csv(perfect_study.results / "report" / "comparison.csv")
    best = comparison.set_index("strategy").loc["grid", "best_objective"]
    assert math.isfinite(best) and best == floor
    # So does MLflow.
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{perfect_study.results / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("test-perfect-accuracy")
    trials = client.search_runs([experiment.experiment_id], "tags.role = 'trial'")
    assert len(trials) == 1
    assert trials[0].data.metrics["objective"] == floor
    assert trials[0].data.tags["status"] == "ok"


@pytest.mark.slow
def test_held_out_test_objective_stays_finite(perfect_study):
    test = json.loads((perfect_study.results / "grid" / "test.json").read_text())
    assert test["status"] == "ok"
    assert math.isfinite(test["test_objective"])
    assert test["test_objective"] == pytest.approx(
        math.log10(max(1.0 - test["test_accuracy"], ERROR_FLOOR)))

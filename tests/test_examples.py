"""The shipped examples (examples/<name>/: a config and the user's file), each run end to end
at its own small size in a study directory of its own."""

from __future__ import annotations

import math
import shutil

import pandas as pd
import pytest
import yaml

from hpstudy.paths import REPORT
from tests.helpers.studies import run_study
from tests.helpers.tracking import mlflow_runs
from tests.helpers.workdir import REPO

EXAMPLES = REPO / "examples"


@pytest.mark.e2e
def test_the_sklearn_example_tunes_a_users_model_and_an_edit_reruns_its_training(tmp_path):
    """examples/sklearn_digits: an SVC of the user's (objective.name: python) on the digits,
    three strategies. Every trial ok with a finite objective, a verdict, an MLflow run per
    trial with its folds' metrics; a rerun has nothing to do, and an edited train.py plans
    the training again (it is an input of those jobs)."""
    example = EXAMPLES / "sklearn_digits"
    code = tmp_path / "code"
    code.mkdir()
    shutil.copy(example / "train.py", code / "train.py")  # edited below, not the repo's
    config = yaml.safe_load((example / "config.yaml").read_text(encoding="utf-8"))
    config["objective"]["python"]["entry"] = f"{code / 'train.py'}:fit"
    run = run_study(tmp_path / "study", config)

    trials = 0
    for strategy, settings in config["strategies"].items():
        table = pd.read_csv(run.results / strategy / "trials.csv")
        assert len(table) == settings["budget"] and (table["status"] == "ok").all()
        # objective = -(mean CV accuracy): direction maximize
        assert table["objective"].between(-1, 0).all()
        assert table["objective"].min() < -0.9, table  # an SVC learns the digits
        trials += len(table)
    assert (run.path / REPORT["verdict"]).is_file()
    _, runs = mlflow_runs(f"sqlite:///{run.results / 'mlflow.db'}", config["experiment"])
    trial_runs = [r for r in runs if r.data.tags.get("role") == "trial"]
    assert len(trial_runs) == trials
    for trial_run in trial_runs:
        assert set(trial_run.data.params) == {"C", "gamma"}
        assert math.isfinite(trial_run.data.metrics["objective"])
        assert {"fold_0/accuracy", "fold_1/accuracy"} <= set(trial_run.data.metrics)

    again = run.snakemake("--cores", "2", "-n")
    assert "Nothing to be done" in again.stdout + again.stderr

    with open(code / "train.py", "a", encoding="utf-8") as handle:
        handle.write("# edited\n")
    edited = run.snakemake("--cores", "2", "-n")
    planned = edited.stdout + edited.stderr
    assert "train_fold" in planned and "Updated input files" in planned, planned[-3000:]
    assert "prepare_data" not in planned

"""The shipped examples (examples/<name>/: a config and the user's file), each run end to end
at its own small size in a study directory of its own."""

from __future__ import annotations

import json
import math
import shutil

import pandas as pd
import pytest
import yaml

from hpstudy.paths import REPORT
from tests.helpers.processes import kill_when
from tests.helpers.studies import run_study
from tests.helpers.tracking import mlflow_runs
from tests.helpers.workdir import REPO, Workdir

EXAMPLES = REPO / "examples"


def configurations(table: pd.DataFrame) -> int:
    """Configurations of a trials.csv, each one MLflow run: a multi-fidelity strategy's
    promoted trials (rung > 0) continue their configuration's run."""
    return int((table["rung"] == 0).sum()) if "rung" in table else len(table)


@pytest.mark.e2e
def test_the_sklearn_example_resumes_after_a_kill_and_an_edit_reruns_its_training(tmp_path):
    """examples/sklearn_digits: an SVC of the user's (objective.name: python) on the digits,
    three strategies, the run killed (SIGKILL to all of it) once a first fold is written and
    resumed by the same command. Every trial ok with a finite objective, a verdict, an MLflow
    run per trial (none twice) with its folds' metrics; a rerun has nothing to do, and an
    edited train.py plans the training again (it is an input of those jobs)."""
    example = EXAMPLES / "sklearn_digits"
    code = tmp_path / "code"
    code.mkdir()
    shutil.copy(example / "train.py", code / "train.py")  # edited below, not the repo's
    config = yaml.safe_load((example / "config.yaml").read_text(encoding="utf-8"))
    config["objective"]["python"]["entry"] = f"{code / 'train.py'}:fit"
    run = Workdir(tmp_path / "study")
    run.path.mkdir()
    run.write_config(config)
    kill_when(run, "results/*/trials/*/fold_0.json")
    run.snakemake("--unlock")
    run.snakemake("--cores", "2")

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
    keys = [r.data.tags["hpstudy.key"] for r in runs]
    assert len(keys) == len(set(keys)) and all(r.info.status == "FINISHED" for r in runs)
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


@pytest.mark.e2e
def test_the_perl_example_tunes_a_program_in_another_language_with_hyperband(tmp_path):
    """examples/perl_logistic: a Perl program (objective.name: command) run per trial, its
    folds in one job; random search, TPE and Hyperband, which gives the program its budget
    (epochs) through {budget}. Every trial ok, the Hyperband rungs at 3, 9 and 27 epochs, a
    verdict, an MLflow run per trial; an edited script plans the training again."""
    example = EXAMPLES / "perl_logistic"
    code = tmp_path / "code"
    code.mkdir()
    shutil.copy(example / "train.pl", code / "train.pl")  # edited below, not the repo's
    config = yaml.safe_load((example / "config.yaml").read_text(encoding="utf-8"))
    command = config["objective"]["command"]
    command["run"] = (command["run"].replace("examples/perl_logistic/", f"{code}/")
                      .replace("examples/data/", f"{EXAMPLES}/data/"))
    run = run_study(tmp_path / "study", config)

    trials = 0
    for strategy in config["strategies"]:
        table = pd.read_csv(run.results / strategy / "trials.csv")
        assert (table["status"] == "ok").all(), table
        # The mean validation log loss: logistic regression separates these tumours well.
        assert table["objective"].gt(0).all() and table["objective"].min() < 0.2, table
        trials += configurations(table)
    rungs = pd.read_csv(run.results / "hyperband" / "trials.csv")["fidelity"]
    assert sorted(set(rungs)) == [3, 9, 27]
    assert (run.path / REPORT["verdict"]).is_file()
    _, runs = mlflow_runs(f"sqlite:///{run.results / 'mlflow.db'}", config["experiment"])
    trial_runs = [r for r in runs if r.data.tags.get("role") == "trial"]
    assert len(trial_runs) == trials
    for trial_run in trial_runs:
        assert {"learning_rate", "l2"} <= set(trial_run.data.params)
        assert {f"fold_{k}/{name}" for k in range(3) for name in ("loss", "accuracy")} <= \
            set(trial_run.data.metrics)

    with open(code / "train.pl", "a", encoding="utf-8") as handle:
        handle.write("# edited\n")
    edited = run.snakemake("--cores", "2", "-n")
    planned = edited.stdout + edited.stderr
    assert "train_trial" in planned and "Updated input files" in planned, planned[-3000:]


@pytest.mark.e2e
def test_the_keras_example_trains_a_users_network_on_a_table_with_hyperband(tmp_path):
    """examples/keras_table: the user's Keras builder (objective.name: keras) on a CSV table
    (dataset.name: table), random search and Hyperband, whose promoted trials continue from
    their checkpoints. The table prepared as rows of standardised features; every trial ok;
    Hyperband's rungs at 1 and 3 epochs, a promoted fold trained on from epoch 1; a verdict
    and an MLflow run per trial."""
    example = EXAMPLES / "keras_table"
    config = yaml.safe_load((example / "config.yaml").read_text(encoding="utf-8"))
    config["dataset"]["path"] = str(EXAMPLES / "data" / "breast_cancer.csv")
    config["objective"]["keras"]["builder"] = f"{example / 'model.py'}:build_model"
    run = run_study(tmp_path / "study", config)

    prepared = json.loads((run.results / "data" / "dataset.json").read_text())
    assert prepared["image_shape"] == [30] and prepared["target"] == "benign"
    assert prepared["examples"] == 569 and prepared["classes"] == [0, 1]
    trials = 0
    for strategy in config["strategies"]:
        table = pd.read_csv(run.results / strategy / "trials.csv")
        assert (table["status"] == "ok").all(), table
        # log10(1 - mean CV accuracy): a small network separates these tumours well.
        assert table["objective"].min() < -1, table
        trials += configurations(table)
    hyperband = pd.read_csv(run.results / "hyperband" / "trials.csv")
    assert sorted(set(hyperband["fidelity"])) == [1, 3]
    continued = [json.loads(path.read_text()) for path in
                 (run.results / "hyperband" / "trials").glob("*/fold_0.json")]
    assert any(record.get("first_epoch") == 1 for record in continued)
    assert (run.path / REPORT["verdict"]).is_file()
    _, runs = mlflow_runs(f"sqlite:///{run.results / 'mlflow.db'}", config["experiment"])
    assert len([r for r in runs if r.data.tags.get("role") == "trial"]) == trials

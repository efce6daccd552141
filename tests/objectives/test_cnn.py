"""The real Keras CNN, trained per (trial, fold) by the real workflow (the session study
`cnn_study`, tests/configs/cnn_tiny.yaml) and in-process on one fold."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from hpstudy.objectives.cnn import OBJECTIVE as CNN
from hpstudy.objectives.keras_classifier import ERROR_FLOOR
from hpstudy.space import SearchSpace
from tests.helpers.studies import copy_study
from tests.helpers.workdir import load_config

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
CHANCE_PENALTY = math.log10(1 - 1 / 10)  # a diverged trial's objective on 10 classes


def fold_records(study, strategy: str, trial: int) -> list[dict]:
    return [json.loads((study.results / f"{strategy}/trials/{trial}/fold_{fold}.json")
                       .read_text()) for fold in range(2)]


@pytest.mark.e2e
def test_grid_trials_train_and_one_diverges(cnn_study):
    table = pd.read_csv(cnn_study.results / "grid" / "trials.csv")
    assert list(table["learning_rate"]) == [0.05, 50.0]
    sane, diverged = table.iloc[0], table.iloc[1]
    assert sane["status"] == "ok"
    assert 0.2 < sane["cv_accuracy_mean"] <= 1.0  # twice chance after 2 epochs on 240 images
    mean = (sane["fold_0_accuracy"] + sane["fold_1_accuracy"]) / 2
    assert sane["cv_accuracy_mean"] == pytest.approx(mean)
    assert sane["objective"] == pytest.approx(math.log10(1 - mean))
    assert diverged["status"] == "diverged"
    assert diverged["objective"] == pytest.approx(CHANCE_PENALTY)
    assert sane["objective"] < diverged["objective"]
    timings = pd.read_csv(cnn_study.results / "grid" / "timings.csv").set_index("trial")
    assert timings.loc[0, "fit_seconds"] > 0 and timings.loc[0, "fit_cpu_seconds"] > 0
    fold_timing = json.loads((cnn_study.results / "grid/trials/0/fold_1_timing.json")
                             .read_text())
    assert fold_timing["trial"] == 0 and fold_timing["fold"] == 1
    assert 0 < fold_timing["fit_seconds"] <= timings.loc[0, "fit_seconds"]


@pytest.mark.e2e
def test_best_params_are_retrained_and_tested_on_the_held_out_set(cnn_study):
    test = json.loads((cnn_study.results / "grid" / "test.json").read_text())
    table = pd.read_csv(cnn_study.results / "grid" / "trials.csv")
    ok = table[table["status"] == "ok"]
    assert test["trial"] == int(ok.loc[ok["objective"].idxmin(), "trial"])
    assert test["status"] == "ok" and 0.0 <= test["test_accuracy"] <= 1.0
    assert test["test_objective"] == pytest.approx(
        math.log10(max(1 - test["test_accuracy"], ERROR_FLOOR)))
    comparison = pd.read_csv(cnn_study.results / "report" / "comparison.csv")
    row = comparison.set_index("strategy").loc["grid"]
    assert row["test_objective"] == pytest.approx(test["test_objective"])


@pytest.mark.e2e
def test_report_of_the_real_cnn_run_matches_its_trials(cnn_study):
    """The figures and table built from this real run show exactly the trials it ran."""
    from matplotlib.collections import PathCollection

    from hpstudy import report

    results = cnn_study.results
    paths = {s: str(results / s / "trials.csv") for s in ("grid", "random")}
    timings = {s: str(results / s / "timings.csv") for s in ("grid", "random")}
    trials = report.load_trials(paths, timings)
    axes = report.parameter_axes(SearchSpace.from_config(load_config("cnn_tiny")["space"]))
    figures = report.make_figures(trials, axes)
    lines = figures["best_so_far"].axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["grid", "random"]
    assert [len(line.get_xdata()) for line in lines] == [2, 2]
    space = figures["random_space"].axes[0]
    points = sum(len(c.get_offsets()) for c in space.collections
                 if isinstance(c, PathCollection))
    assert points == len(trials["random"])
    assert space.get_xscale() == "log"  # learning_rate is loguniform
    comparison = pd.read_csv(results / "report" / "comparison.csv").set_index("strategy")
    for strategy, table in trials.items():
        ok = table[table["status"] == "ok"]
        # One sane and one diverged trial in each (test_random_trials_are_scored_by_their_folds)
        assert len(ok) == 1 and len(table) == 2, table
        assert comparison.loc[strategy, "trials"] == len(table)
        assert comparison.loc[strategy, "ok"] == len(ok)
        assert comparison.loc[strategy, "best_objective"] == pytest.approx(ok["objective"].min())
    training_time = pd.read_csv(results / "report" / "training_time.csv").set_index("strategy")
    for strategy, table in trials.items():
        assert training_time.loc[strategy, "training_seconds"] == pytest.approx(
            table["duration_s"].sum(), abs=1e-3)
        assert training_time.loc[strategy, "training_cpu_seconds"] == pytest.approx(
            table["cpu_seconds"].sum(), abs=1e-3)
        assert table["cpu_seconds"].gt(0).all()
    page = (results / "report" / "index.html").read_text()
    assert page.count("data:image/png;base64,") == len(list((results / "report" / "figures")
                                                           .glob("*.png")))


@pytest.mark.e2e
def test_fold_records_hold_epoch_histories(cnn_study):
    record = json.loads((cnn_study.results / "grid/trials/0/fold_1.json").read_text())
    assert record["status"] == "ok" and record["epochs_run"] == 2
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert len(record["history"][key]) == 2
        assert record["metrics"][key] == record["history"][key][-1]
    assert record["train_examples"] + record["val_examples"] == 240  # 300 less the test 20 %
    stopped = json.loads((cnn_study.results / "grid/trials/1/fold_0.json").read_text())
    assert stopped["status"] == "diverged" and stopped["epochs_run"] == 1


@pytest.mark.e2e
def test_trial_runs_in_mlflow_hold_each_folds_epoch_history(cnn_study):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{cnn_study.results / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("test-cnn-tiny")
    trials = client.search_runs([experiment.experiment_id], "tags.role = 'trial'")
    assert len(trials) == 2 + 2  # grid + random
    histories = 0
    for run in trials:
        study, trial = run.data.tags["study"], run.data.tags["trial"]
        for fold in range(2):
            record = json.loads(
                (cnn_study.results / study / "trials" / trial / f"fold_{fold}.json").read_text())
            history = client.get_metric_history(run.info.run_id, f"fold_{fold}/val_accuracy")
            assert run.data.tags[f"fold_{fold}.epochs_run"] == str(record["epochs_run"])
            assert [m.step for m in history] == [
                step for step, value in enumerate(record["history"]["val_accuracy"])
                if value is not None]
            assert [m.value for m in history] == pytest.approx(
                [v for v in record["history"]["val_accuracy"] if v is not None])
            assert run.data.metrics[f"fold_{fold}/fit_seconds"] > 0
            histories += len(history)
    assert histories >= 4 * 2  # every fold ran at least one epoch
    assert all(len(r.data.tags["data_checksum"]) == 64 for r in trials)
    assert all("cv_accuracy_mean" in r.data.metrics for r in trials
               if r.data.tags["status"] == "ok")


def _digits_fold():
    from hpstudy import data

    x, y, folds, _ = data.prepare({"name": "digits", "path": None, "limit": 300,
                                   "split_seed": 0}, {"folds": 2, "test_fraction": 0.2})
    train, val = (folds != -1) & (folds != 0), folds == 0
    return data.FoldData(x[train], y[train], x[val], y[val], 10)


def test_lr_decay_is_the_learning_rate_the_fit_applies(tmp_path):
    """lr_decay_rate makes the optimizer's learning rate decay per step while it trains:
    the checkpoint after the fit holds an optimizer at lr x rate^steps, and the fit's history
    and weights differ from the same fold trained without the decay."""
    import keras
    import numpy as np

    from hpstudy.config import objective_defaults

    fold = _digits_fold()
    settings = {**objective_defaults("cnn"), "filters": 4, "dense_units": 8, "epochs": 2}
    params = {"learning_rate": 0.05, "momentum": 0.9}
    fits = {}
    for name, decay in (("decayed", {"lr_decay_rate": 0.9, "lr_decay_steps": 1}),
                        ("constant", {})):
        record = CNN.evaluate_fold({**settings, **decay}, params, 0, 3, fold,
                                   checkpoint_to=str(tmp_path / f"{name}.keras"))
        assert record["status"] == "ok" and record["epochs_run"] == 2, name
        model = keras.saving.load_model(tmp_path / f"{name}.keras")
        fits[name] = (record, model)
    steps = 2 * math.ceil(fold.x_train.shape[0] / settings["batch_size"])
    for name, (_, model) in fits.items():
        assert int(model.optimizer.iterations) == steps, name
    # What the optimizer applies at its current step: decayed per step, or the initial rate.
    applied = {name: float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
               for name, (_, model) in fits.items()}
    assert applied["constant"] == pytest.approx(0.05)
    assert applied["decayed"] == pytest.approx(0.05 * 0.9 ** steps, rel=1e-4)
    (decayed, decayed_model), (constant, constant_model) = fits["decayed"], fits["constant"]
    assert decayed["history"]["loss"][0] != constant["history"]["loss"][0]
    assert not all(np.array_equal(a, b) for a, b in zip(
        decayed_model.get_weights(), constant_model.get_weights(), strict=True))


def test_early_stopping_stops_after_its_patience():
    """With a learning rate too small to move val_loss by min_delta, patience 2 ends the fit
    after 3 epochs (the first sets the best); without early stopping all 6 epochs run."""
    from hpstudy.config import objective_defaults

    fold = _digits_fold()
    settings = {**objective_defaults("cnn"), "filters": 4, "dense_units": 8, "epochs": 6}
    params = {"learning_rate": 1e-9, "momentum": 0.0}
    runs = {patience: CNN.evaluate_fold({**settings, "early_stopping_patience": patience},
                                        params, 0, 3, fold)
            for patience in (2, None)}
    for patience, record in runs.items():
        assert record["status"] == "ok", patience
        assert len(record["history"]["val_loss"]) == record["epochs_run"]
    assert runs[2]["epochs_run"] == 3
    assert runs[None]["epochs_run"] == 6


@pytest.mark.e2e
def test_random_trials_are_scored_by_their_folds(cnn_study):
    """Seed 11 draws learning rate 80 (diverges) and 0.012 (trains, slowly: about chance after
    2 epochs) for the two random trials. Each row of trials.csv is what its own fold records
    say: their params, accuracies and status, and the objective log10(1 - mean accuracy), or
    the chance penalty."""
    table = pd.read_csv(cnn_study.results / "random" / "trials.csv")
    assert list(table["trial"]) == [0, 1]
    assert list(table["status"]) == ["diverged", "ok"]
    assert table.loc[0, "learning_rate"] > 50 and table.loc[1, "learning_rate"] < 0.05
    for _, row in table.iterrows():
        records = fold_records(cnn_study, "random", row["trial"])
        for fold, record in enumerate(records):
            assert record["params"] == pytest.approx(
                {"learning_rate": row["learning_rate"], "momentum": row["momentum"]})
            accuracy = record["metrics"].get("val_accuracy")
            assert row[f"fold_{fold}_accuracy"] == pytest.approx(
                math.nan if accuracy is None else accuracy, nan_ok=True)
        assert row["status"] == ("ok" if all(r["status"] == "ok" for r in records)
                                 else "diverged")
    diverged, sane = table.iloc[0], table.iloc[1]
    assert "diverged" in {r["status"] for r in fold_records(cnn_study, "random", 0)}
    assert diverged["objective"] == pytest.approx(CHANCE_PENALTY)
    mean = (sane["fold_0_accuracy"] + sane["fold_1_accuracy"]) / 2
    assert sane["cv_accuracy_mean"] == pytest.approx(mean)
    assert sane["objective"] == pytest.approx(math.log10(1 - mean))


@pytest.mark.e2e
def test_fold_job_rerun_is_identical(cnn_study, tmp_path):
    study = copy_study(cnn_study, tmp_path / "copy")  # the rerun rewrites the fold's files
    path = study.results / "random/trials/0/fold_0.json"
    timing = path.with_name("fold_0_timing.json")
    before = json.loads(path.read_text())
    stamps = {p: p.stat().st_mtime_ns for p in (path, timing)}
    result = study.snakemake("--cores", "1", "--forcerun", str(path.relative_to(study.path)),
                             "--until", "train_fold")
    # The forced job ran (Snakemake planned and ran it; it wrote both its outputs anew) ...
    output = result.stdout + result.stderr
    assert re.search(r"^train_fold\s+1\s*$", output, re.MULTILINE), output
    assert re.search(r"rule train_fold:\n(.*\n)*?\s+output: .*random/trials/0/fold_0\.json",
                     output), output
    assert all(p.stat().st_mtime_ns > stamp for p, stamp in stamps.items())
    assert json.loads(timing.read_text())["fit_seconds"] > 0
    after = json.loads(path.read_text())
    # ... and its fold record is a pure function of the job's inputs (its timing file is not).
    assert before == after


def test_perfect_accuracy_stays_finite():
    folds = [{"fold": k, "status": "ok", "classes": 10,
              "metrics": {"val_accuracy": 1.0, "val_loss": 0.0}} for k in range(3)]
    score = CNN.score_trial({"metric": "accuracy"}, folds)
    assert score["objective"] == pytest.approx(math.log10(ERROR_FLOOR))
    assert score["metrics"]["cv_accuracy_mean"] == 1.0


@pytest.mark.skipif(not FASHION_MNIST.is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")
def test_the_cnn_learns_a_fold_of_fashion_mnist_idx_images():
    """28 x 28 images from the IDX files (the other tests train on 8 x 8 digits): the CNN is
    built for their shape and learns past chance in one epoch. The workflow runs these files in
    tests/objectives/test_objectives.py::test_initializer_study_runs_end_to_end_on_fashion_mnist."""
    from hpstudy import data
    from hpstudy.config import objective_defaults

    x, y, folds, _ = data.prepare({"name": "fashion_mnist", "path": str(FASHION_MNIST),
                                   "limit": 400, "split_seed": 3},
                                  {"folds": 2, "test_fraction": 0.2})
    assert x.shape[1:3] == (28, 28) and len(x) == 400
    train, val = (folds != -1) & (folds != 0), folds == 0
    fold = data.FoldData(x[train], y[train], x[val], y[val], 10)
    settings = {**objective_defaults("cnn"), "filters": 8, "dense_units": 32, "epochs": 1,
                "batch_size": 16}
    record = CNN.evaluate_fold(settings, {"learning_rate": 0.02, "momentum": 0.9}, 0, 3, fold)
    assert record["status"] == "ok" and record["epochs_run"] == 1
    # Chance is 0.1; measured 0.37 to 0.46 over seeds 3 to 6.
    assert record["metrics"]["val_accuracy"] > 0.25, record["history"]

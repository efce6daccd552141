"""dataset.task: regression: a real-valued target of the user's table or X/y archive, split
at random into plain k folds, and the networks' harness regressing on it (one linear output,
mean squared error on the target standardised per fold, RMSE in the target's units). Data:
scikit-learn's bundled diabetes table (442 patients, 10 features, disease progression a year
later, 25 to 346), written as a CSV in tmp_path. Every problem is named before any job
through the Snakefile's pre-flight (load_plan)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hpstudy import data
from hpstudy.objectives import registry
from hpstudy.outcome import TrialFailed
from hpstudy.preflight import PreflightError, load_plan

CV = {"folds": 3, "test_fraction": 0.2}


@pytest.fixture(scope="module")
def diabetes_csv(tmp_path_factory):
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(as_frame=True, scaled=False)
    path = tmp_path_factory.mktemp("regression") / "diabetes.csv"
    bunch.frame.to_csv(path, index=False)
    return path


def _dataset(path, **settings) -> dict:
    return {"name": "table", "path": str(path), "target": "target", "task": "regression",
            "limit": None, "split_seed": 0, "classes": None, **settings}


def _config(dataset: dict, objective: dict | None = None) -> dict:
    return {"experiment": "test-regression", "seed": 1, "dataset": dataset, "cv": {"folds": 3},
            "objective": objective or {"name": "mlp"},
            "space": {"learning_rate": {"type": "loguniform", "low": 1e-3, "high": 0.1}},
            "strategies": {"random": {"budget": 2}},
            "tracking": {"uri": "sqlite:///results/mlflow.db"}}


def _fold(x, y, folds, fold: int = 0) -> data.FoldData:
    train, val = (folds != data.TEST_FOLD) & (folds != fold), folds == fold
    return data.FoldData(x[train], y[train], x[val], y[val], None)


def test_a_regression_table_keeps_its_targets_and_splits_into_plain_shuffled_folds(
        diabetes_csv):
    table = pd.read_csv(diabetes_csv)
    x, y, folds, metadata = data.prepare(_dataset(diabetes_csv), CV)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, table["target"].to_numpy(np.float64))
    assert x.shape == (442, 10)
    # Plain KFold on the rows left after a random (unstratified) hold-out of ceil(0.2 x 442).
    from sklearn.model_selection import KFold, train_test_split

    train, test = train_test_split(np.arange(442), test_size=0.2, random_state=0)
    assert sorted(np.flatnonzero(folds == data.TEST_FOLD)) == sorted(test)
    train = np.sort(train)
    for fold, (_, held_out) in enumerate(KFold(3, shuffle=True, random_state=0).split(train)):
        assert sorted(np.flatnonzero(folds == fold)) == sorted(train[held_out])
    assert metadata["task"] == "regression" and "classes" not in metadata
    assert metadata["target_mean"] == pytest.approx(table["target"].mean())
    assert metadata["target_std"] == pytest.approx(table["target"].std(ddof=0))
    # The fold loaders tell a regression by its float targets: no classes.
    directory = diabetes_csv.parent
    for name, array in (("x", x), ("y", y), ("folds", folds)):
        np.save(directory / f"{name}.npy", array)
    fold = data.load_fold(*(directory / f"{name}.npy" for name in ("x", "y", "folds")), 1)
    assert fold.classes is None and fold.y_train.dtype == np.float64
    assert data.load_train_test(*(directory / f"{name}.npy"
                                  for name in ("x", "y", "folds"))).classes is None


def test_a_limit_on_a_regression_is_a_seeded_random_subset(diabetes_csv):
    x, y, folds, metadata = data.prepare(_dataset(diabetes_csv, limit=100), CV)
    again = data.prepare(_dataset(diabetes_csv, limit=100), CV)
    assert len(y) == 100 and metadata["sha256"] == again[3]["sha256"]
    other = data.prepare(_dataset(diabetes_csv, limit=100, split_seed=1), CV)
    assert other[3]["sha256"]["y"] != metadata["sha256"]["y"]


def test_arrays_of_real_targets_prepare_as_the_same_regression_table(diabetes_csv, tmp_path):
    table = pd.read_csv(diabetes_csv)
    np.savez(tmp_path / "diabetes.npz", X=table.drop(columns="target").to_numpy(),
             y=table["target"].to_numpy())
    arrays = {**_dataset(tmp_path / "diabetes.npz"), "name": "arrays", "target": None}
    from_table, from_arrays = data.prepare(_dataset(diabetes_csv), CV), data.prepare(arrays, CV)
    for table_array, arrays_array in zip(from_table[:3], from_arrays[:3], strict=True):
        np.testing.assert_array_equal(table_array, arrays_array)
    plan = load_plan(_config(arrays))
    assert plan.objective_settings["metric"] == "rmse" and plan.fold_metric == "rmse"
    assert load_plan(_config({"name": "digits"})).fold_metric == "accuracy"


def test_the_mlp_regresses_better_than_the_mean_and_reports_rmse_in_the_targets_units(
        diabetes_csv):
    plan = load_plan(_config(_dataset(diabetes_csv)))
    settings = {**plan.objective_settings, "epochs": 20, "optimizer": "adam"}
    assert settings["metric"] == "rmse"  # a regression's default
    x, y, folds, _ = data.prepare(_dataset(diabetes_csv), CV)
    mlp = registry()["mlp"]
    records = [{**mlp.evaluate_fold(settings, {"learning_rate": 0.01}, k, 3,
                                    _fold(x, y, folds, k)), "fold": k}  # as train_folds does
               for k in range(3)]
    for record, k in zip(records, range(3), strict=True):
        fold = _fold(x, y, folds, k)
        assert record["status"] == "ok" and record["classes"] is None
        assert record["target_std"] == pytest.approx(fold.y_train.std())
        # In the target's units: below the RMSE of guessing the training mean on this fold.
        guess = math.sqrt(np.mean((fold.y_val - fold.y_train.mean()) ** 2))
        assert 30 < record["metrics"]["val_rmse"] < guess, (record["metrics"], guess)
        assert record["history"]["val_rmse"][-1] == record["metrics"]["val_rmse"]
    score = mlp.score_trial(settings, records)
    rmses = [record["metrics"]["val_rmse"] for record in records]
    assert score["objective"] == pytest.approx(np.mean(rmses))
    assert score["metrics"]["fold_2_rmse"] == rmses[2]
    assert score["metrics"]["cv_rmse_std"] == pytest.approx(np.std(rmses))
    # metric loss: the mean squared error of the standardised target.
    losses = [record["metrics"]["val_loss"] for record in records]
    assert mlp.score_trial({**settings, "metric": "loss"}, records)["objective"] == \
        pytest.approx(np.mean(losses))
    for record in records:
        assert record["metrics"]["val_loss"] == pytest.approx(
            (record["metrics"]["val_rmse"] / record["target_std"]) ** 2, rel=1e-3)


def test_a_diverging_regression_scores_as_guessing_the_mean(diabetes_csv):
    plan = load_plan(_config(_dataset(diabetes_csv)))
    x, y, folds, _ = data.prepare(_dataset(diabetes_csv), CV)
    fold = _fold(x, y, folds)
    settings = {**plan.objective_settings, "epochs": 3}
    mlp = registry()["mlp"]
    record = {**mlp.evaluate_fold(settings, {"learning_rate": 50.0}, 0, 3, fold), "fold": 0}
    assert record["status"] == "diverged", record["metrics"]
    score = mlp.score_trial(settings, [record])
    assert score["status"] == "diverged"
    assert score["objective"] == pytest.approx(fold.y_train.std())
    test = mlp.evaluate_test(settings, {"learning_rate": 50.0}, 3, fold)
    assert test["test_rmse"] is None and test["test_objective"] == pytest.approx(
        fold.y_train.std())


def test_a_user_builder_gets_no_classes_and_must_end_in_one_output(diabetes_csv, tmp_path):
    builder = tmp_path / "model.py"
    builder.write_text(
        "import keras\n\n"
        "def build(params, input_shape, n_classes):\n"
        "    outputs = 1 if n_classes is None else n_classes\n"
        "    return [keras.Input(shape=input_shape), keras.layers.Dense(8, activation='relu'),\n"
        "            keras.layers.Dense(outputs)]\n\n"
        "def softmax(params, input_shape, n_classes):\n"
        "    return [keras.Input(shape=input_shape),\n"
        "            keras.layers.Dense(3, activation='softmax')]\n",
        encoding="utf-8")
    x, y, folds, _ = data.prepare(_dataset(diabetes_csv), CV)
    keras_objective = registry()["keras"]
    plan = load_plan(_config(_dataset(diabetes_csv), {
        "name": "keras", "keras": {"builder": f"{builder}:build", "epochs": 5,
                                   "optimizer": "adam"}}))
    record = keras_objective.evaluate_fold(plan.objective_settings, {"learning_rate": 0.01}, 0,
                                           3, _fold(x, y, folds))
    assert record["status"] == "ok" and record["metrics"]["val_rmse"] > 0
    wrong = {**plan.objective_settings, "builder": f"{builder}:softmax"}
    # The fold fails with this reason (the job records it: hpstudy.outcome.fold_or_failure).
    with pytest.raises(TrialFailed, match=r"softmax\(\)'s model outputs shape \(None, 3\); "
                       r"the harness needs \(None, 1\): one linear output last"):
        keras_objective.evaluate_fold(wrong, {"learning_rate": 0.01}, 0, 3, _fold(x, y, folds))


def test_a_python_function_gets_the_real_targets(diabetes_csv, tmp_path):
    train = tmp_path / "train.py"
    train.write_text(
        "import numpy as np\n\n"
        "def fit(params, data):\n"
        "    assert data.classes is None and data.y_train.dtype == np.float64\n"
        "    guess = data.y_train.mean() * params['scale']\n"
        "    return float(np.sqrt(np.mean((data.y_val - guess) ** 2)))\n", encoding="utf-8")
    config = _config(_dataset(diabetes_csv), {"name": "python",
                                              "python": {"entry": f"{train}:fit"}})
    config["space"] = {"scale": {"type": "uniform", "low": 0.5, "high": 1.5}}
    plan = load_plan(config)
    # Its metric names what the function returns: a regression leaves the default alone.
    assert plan.objective_settings["metric"] == "objective"
    x, y, folds, _ = data.prepare(_dataset(diabetes_csv), CV)
    fold = _fold(x, y, folds)
    record = registry()["python"].evaluate_fold(plan.objective_settings, {"scale": 1.0}, 0, 3,
                                                fold)
    assert record["status"] == "ok", record
    assert record["metrics"]["objective"] == pytest.approx(
        math.sqrt(np.mean((fold.y_val - fold.y_train.mean()) ** 2)))


def _errors(csv) -> list[tuple[str, dict, str]]:
    return [
        ("regression on images", _config({"name": "digits", "task": "regression"}),
         "invalid config: dataset.task: regression needs a real-valued target: a table "
         "(name table) or an X/y archive (name arrays); digits has class labels"),
        ("classes of a regression", _config(_dataset(csv, classes=[0, 1])),
         "invalid config: dataset.classes: [0, 1], but dataset.task regression has no "
         "classes to keep"),
        ("accuracy of a regression", _config(_dataset(csv), {"name": "mlp",
                                                              "mlp": {"metric": "accuracy"}}),
         "invalid config: objective.mlp.metric: accuracy does not score a regression; use "
         "rmse or loss"),
        ("rmse of a classification", _config({"name": "digits"}, {"name": "cnn",
                                                                   "cnn": {"metric": "rmse"}}),
         "invalid config: objective.cnn.metric: rmse does not score a classification; use "
         "accuracy or loss (rmse scores dataset.task: regression)"),
        ("a text target", _config(_dataset(csv, target="kind")),
         "values such as ['a', 'b', 'a']; dataset.task regression needs numbers"),
        ("too few rows", {**_config(_dataset(csv, limit=20)), "cv": {"folds": 20}},
         "dataset: 20 examples give a test set of 4 and 16 for cross-validation; 20 folds "
         "need at least one example each"),
    ]


@pytest.mark.parametrize("case", range(6))
def test_each_regression_problem_is_one_line_before_any_job(case, diabetes_csv, tmp_path):
    table = pd.read_csv(diabetes_csv).head(60).assign(kind=["a", "b"] * 30)
    csv = tmp_path / "with_text.csv"
    table.to_csv(csv, index=False)
    name, config, line = _errors(csv if case == 4 else diabetes_csv)[case]
    if case == 4:  # the text column is the target: the other columns stay numeric
        config["dataset"]["path"] = str(csv)
    with pytest.raises(PreflightError) as caught:
        load_plan(config)
    assert line in str(caught.value), (name, str(caught.value))
    assert "Traceback" not in str(caught.value)

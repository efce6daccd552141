"""The user's own data: tables (dataset.name: table), a CSV or Parquet file of numeric
features and a target column, and arrays (dataset.name: arrays), a .npz of X and y; read,
checked and prepared (rows standardised with the cross-validation rows' statistics only),
and every problem named before any job through the Snakefile's pre-flight (load_plan). The
table is examples/data/breast_cancer.csv, or tables and archives written in tmp_path."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hpstudy import data
from hpstudy.preflight import PreflightError, load_plan
from tests.helpers.workdir import REPO

BREAST_CANCER = REPO / "examples" / "data" / "breast_cancer.csv"
CV = {"folds": 3, "test_fraction": 0.2}


def _dataset(path, target="benign", **settings) -> dict:
    return {"name": "table", "path": str(path), "target": target, "limit": None,
            "split_seed": 0, "classes": None, **settings}


def test_a_csv_is_prepared_as_standardised_rows_fitted_on_the_cv_rows_only():
    table = pd.read_csv(BREAST_CANCER)
    x, y, folds, metadata = data.prepare(_dataset(BREAST_CANCER), CV)
    assert x.shape == (569, 30) and x.dtype == np.float32
    np.testing.assert_array_equal(y, table["benign"].to_numpy())
    cv = folds != data.TEST_FOLD
    # Fitted on the cross-validation rows: mean 0 and deviation 1 there, not on the test rows.
    np.testing.assert_allclose(x[cv].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(x[cv].std(axis=0), 1, atol=1e-4)
    raw = table.drop(columns="benign").to_numpy()
    expected = (raw - raw[cv].mean(axis=0)) / raw[cv].std(axis=0)
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-5)
    assert metadata["features"] == list(table.columns[:-1]) and metadata["target"] == "benign"
    assert metadata["image_shape"] == [30] and metadata["classes"] == [0, 1]
    assert np.bincount(folds[cv]).tolist() == metadata["fold_sizes"]
    again = data.prepare(_dataset(BREAST_CANCER), CV)
    assert json.dumps(again[3]) == json.dumps(metadata)  # the same arrays, the same checksums


def test_a_parquet_file_prepares_to_the_csvs_arrays(tmp_path):
    parquet = tmp_path / "breast_cancer.parquet"
    pd.read_csv(BREAST_CANCER).to_parquet(parquet)
    from_csv, from_parquet = (data.prepare(_dataset(path), CV) for path in
                              (BREAST_CANCER, parquet))
    for csv_array, parquet_array in zip(from_csv[:3], from_parquet[:3], strict=True):
        np.testing.assert_array_equal(csv_array, parquet_array)


def test_a_text_target_becomes_labels_in_sorted_order_and_a_constant_column_stays_finite(
        tmp_path):
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"size": rng.normal(size=60), "constant": 1.0,
                          "kind": ["wolf", "dog", "cat"] * 20})
    table.to_csv(tmp_path / "animals.csv", index=False)
    x, y, _, metadata = data.prepare(_dataset(tmp_path / "animals.csv", "kind"), CV)
    assert metadata["original_labels"] == ["cat", "dog", "wolf"]
    assert y.tolist() == [2, 1, 0] * 20 and np.isfinite(x).all()
    assert (x[:, 1] == 0).all()  # a constant column: its mean taken away, not divided by 0


def _config(dataset: dict, objective: str = "mlp") -> dict:
    return {"experiment": "test-table", "seed": 1, "dataset": dataset, "cv": {"folds": 2},
            "objective": {"name": objective},
            "space": {"learning_rate": {"type": "loguniform", "low": 1e-3, "high": 0.1}},
            "strategies": {"random": {"budget": 2}},
            "tracking": {"uri": "sqlite:///results/mlflow.db"}}


def _write(tmp_path, name: str, table: pd.DataFrame) -> str:
    path = tmp_path / name
    table.to_csv(path, index=False)
    return str(path)


def _errors(tmp_path) -> list[tuple[str, dict, str]]:
    good = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0] * 5, "b": range(20), "y": [0, 1] * 10})
    text = good.assign(colour=["red", "blue"] * 10)
    gaps = good.astype({"a": float}).copy()
    gaps.loc[[2, 5], "a"] = np.nan
    gaps.loc[3, "y"] = np.nan
    return [
        ("no such column", _config(_dataset(_write(tmp_path, "good.csv", good), "label")),
         "invalid data: dataset.target: 'label' is not a column of"),
        ("text features", _config(_dataset(_write(tmp_path, "text.csv", text), "y")),
         "the features must be numbers; non-numeric column(s): colour (encode them"),
        ("missing values", _config(_dataset(_write(tmp_path, "gaps.csv", gaps), "y")),
         "missing values in a (2 rows), y (1 rows): fill or drop them first"),
        ("not a table", _config(_dataset(_write(tmp_path, "table.txt", good), "y")),
         "invalid config: dataset.path: "),
        ("a table without a target", _config(_dataset(BREAST_CANCER, None)),
         "invalid config: dataset.target: required with dataset.name table"),
        ("a table named as images", _config({**_dataset(BREAST_CANCER), "name": "mnist"}),
         "invalid config: dataset.name: mnist, but dataset.path"),
        ("a target without a table", _config({"name": "digits", "target": "y"}),
         "invalid config: dataset.target: 'y', but only a table"),
        ("the CNN on rows", _config(_dataset(BREAST_CANCER), "cnn"),
         "invalid config: objective.cnn: the data's examples are rows of 30 features, not "
         "images"),
        ("a class the table lacks", _config(_dataset(BREAST_CANCER, classes=[0, 3])),
         "dataset.classes: label(s) [3] not in dataset.path"),
    ]


def _arrays(tmp_path, name: str = "arrays.npz", **arrays) -> dict:
    np.savez(tmp_path / name, **arrays)
    return {"name": "arrays", "path": str(tmp_path / name), "target": None, "limit": None,
            "split_seed": 0, "classes": None}


def test_arrays_of_rows_prepare_as_the_same_table_does(tmp_path):
    table = pd.read_csv(BREAST_CANCER)
    dataset = _arrays(tmp_path, X=table.drop(columns="benign").to_numpy(),
                      y=table["benign"].to_numpy())
    from_table, from_arrays = data.prepare(_dataset(BREAST_CANCER), CV), data.prepare(dataset, CV)
    for table_array, arrays_array in zip(from_table[:3], from_arrays[:3], strict=True):
        np.testing.assert_array_equal(table_array, arrays_array)
    metadata = from_arrays[3]
    assert metadata["features"] == [f"x{column}" for column in range(30)]
    assert metadata["source"] == "npz:arrays.npz" and metadata["image_shape"] == [30]
    assert load_plan(_config(dataset)).needs_data


def test_arrays_of_images_are_scaled_and_text_labels_coded_in_sorted_order(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(60, 6, 5), dtype=np.uint8)
    dataset = _arrays(tmp_path, X=images, y=np.array(["wolf", "dog", "cat"] * 20))
    x, y, _, metadata = data.prepare(dataset, CV)
    np.testing.assert_array_equal(x, images.astype(np.float32) / np.float32(255))
    assert y.tolist() == [2, 1, 0] * 20 and metadata["original_labels"] == ["cat", "dog", "wolf"]
    assert metadata["image_shape"] == [6, 5] and "features" not in metadata
    # Whole-number float labels are labels as they are.
    dataset = _arrays(tmp_path, "floats.npz", X=images, y=np.arange(60.0) % 3)
    assert data.prepare(dataset, CV)[1].tolist() == [0, 1, 2] * 20


def _array_errors(tmp_path) -> list[tuple[str, dict, str]]:
    rows, labels = np.arange(40.0).reshape(20, 2), np.arange(20) % 2
    gaps = rows.copy()
    gaps[[3, 7], 1] = np.nan
    return [
        ("Keras-style arrays", _config(_arrays(tmp_path, "keras.npz", x_train=rows,
                                               y_train=labels)),
         "dataset.name arrays reads arrays X and y, which this archive does not hold"),
        ("NaN in X", _config(_arrays(tmp_path, "gaps.npz", X=gaps, y=labels)),
         "X has NaN or infinite values in 2 row(s), the first [3, 7]: fill or drop them"),
        ("a regression target", _config(_arrays(tmp_path, "real.npz", X=rows, y=rows[:, 0] / 7)),
         "y: labels must be integers 0, 1, 2, ... (or text), got float64 values such as"),
        ("X and y of other lengths", _config(_arrays(tmp_path, "short.npz", X=rows,
                                                     y=labels[:5])),
         "X must be (examples, features) or images (examples, height, width), and y "
         "(examples,), got X (20, 2), y (5,)"),
        ("arrays without a path", _config({"name": "arrays"}),
         "invalid config: dataset.path: None, but dataset.name arrays reads a .npz file "
         "holding arrays X and y"),
    ]


@pytest.mark.parametrize(("source", "case"), [("table", case) for case in range(9)]
                         + [("arrays", case) for case in range(5)])
def test_each_table_or_arrays_problem_is_one_line_before_any_job(source, case, tmp_path):
    errors = _errors if source == "table" else _array_errors
    name, config, line = errors(tmp_path)[case]
    with pytest.raises(PreflightError) as caught:
        load_plan(config)
    assert line in str(caught.value), (name, str(caught.value))
    assert "Traceback" not in str(caught.value)


def test_a_table_plans_and_trains_the_mlp_on_its_rows():
    plan = load_plan(_config(_dataset(BREAST_CANCER)))
    assert plan.needs_data and plan.config["dataset"]["target"] == "benign"
    from hpstudy.objectives import registry

    # The MLP reads rows as they are (its Flatten keeps them): one fold trains.
    x, y, folds, _ = data.prepare(_dataset(BREAST_CANCER), CV)
    train, val = (folds != data.TEST_FOLD) & (folds != 0), folds == 0
    fold = data.FoldData(x[train], y[train], x[val], y[val], 2)
    settings = {**plan.objective_settings, "epochs": 3, "optimizer": "adam"}
    record = registry()["mlp"].evaluate_fold(settings, {"learning_rate": 0.01}, 0, 3, fold)
    assert record["status"] == "ok" and record["metrics"]["val_accuracy"] > 0.8, record

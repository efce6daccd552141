"""hpstudy.data.prepare on scikit-learn's digits: normalisation, the hold-out + k-fold split,
the limit and classes subsets, and the per-fold loaders reading the written arrays back."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpstudy import data, fileio
from tests.helpers.datasets import CV, DIGITS

# --------------------------------------------------------------------------- helpers


def digits_config(**overrides) -> dict:
    return {**DIGITS, **overrides}


def shares(labels: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(labels, minlength=n_classes) / len(labels)


@pytest.fixture(scope="module")
def digits_prepared():
    return data.prepare(dict(DIGITS), dict(CV))


@pytest.fixture(scope="module")
def written_split(digits_prepared, tmp_path_factory):
    """x/y/folds written as the prepare_data job does, plus an x whose rows are their index."""
    x, y, folds, _ = digits_prepared
    directory = tmp_path_factory.mktemp("prepared")
    paths = {name: directory / f"{name}.npy" for name in ("x", "y", "folds", "ids")}
    fileio.write_npy(paths["x"], x)
    fileio.write_npy(paths["y"], y)
    fileio.write_npy(paths["folds"], folds)
    ids = np.arange(len(y), dtype=np.float32).reshape(-1, 1, 1)
    fileio.write_npy(paths["ids"], ids)
    return x, y, folds, paths


# --------------------------------------------------------------------------- digits prepare


def test_digits_arrays(digits_prepared):
    from sklearn.datasets import load_digits

    x, y, folds, _ = digits_prepared
    assert x.shape == (1797, 8, 8) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0
    assert y.shape == (1797,) and y.dtype == np.int64
    assert folds.shape == (1797,) and folds.dtype == np.int8
    bunch = load_digits()
    np.testing.assert_array_equal(y, bunch.target)
    np.testing.assert_allclose(x, bunch.images / 16.0, rtol=0, atol=1e-7)


def test_digits_test_set_and_folds(digits_prepared):
    _, _, folds, _ = digits_prepared
    assert set(np.unique(folds).tolist()) == {data.TEST_FOLD, 0, 1, 2}
    n_test = int((folds == data.TEST_FOLD).sum())
    assert n_test == math.ceil(0.2 * 1797)
    sizes = [int((folds == k).sum()) for k in range(3)]
    assert sum(sizes) + n_test == 1797
    assert max(sizes) - min(sizes) <= 1


def test_digits_split_is_stratified(digits_prepared):
    _, y, folds, _ = digits_prepared
    overall = shares(y, 10)
    for part in (data.TEST_FOLD, 0, 1, 2):
        in_part = y[folds == part]
        np.testing.assert_allclose(shares(in_part, 10), overall, atol=0.01,
                                   err_msg=f"class shares of fold {part}")
    # StratifiedKFold: a class's count differs by at most one between folds.
    cv = folds != data.TEST_FOLD
    for label in range(10):
        per_fold = np.bincount(folds[cv & (y == label)], minlength=3)
        assert per_fold.max() - per_fold.min() <= 1, (label, per_fold)


def test_digits_metadata(digits_prepared):
    x, y, folds, metadata = digits_prepared
    assert metadata["source"] == "sklearn:digits"
    assert metadata["name"] == "digits"
    assert metadata["examples"] == 1797
    assert metadata["image_shape"] == [8, 8]
    assert metadata["classes"] == list(range(10))
    assert metadata["folds"] == 3
    assert metadata["split_seed"] == 0
    assert metadata["test_examples"] == int((folds == data.TEST_FOLD).sum())
    assert metadata["fold_sizes"] == [int((folds == k).sum()) for k in range(3)]
    assert metadata["normalisation"] == "pixels / 16 -> [0, 1], float32"
    assert metadata["sha256"] == {"x": data.sha256(x), "y": data.sha256(y),
                                  "folds": data.sha256(folds)}
    assert all(len(digest) == 64 for digest in metadata["sha256"].values())
    fileio.dumps_json(metadata)  # JSON-serialisable as the job writes it


def test_digits_deterministic(digits_prepared):
    x, y, folds, metadata = digits_prepared
    x2, y2, folds2, metadata2 = data.prepare(dict(DIGITS), dict(CV))
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(folds, folds2)
    assert metadata == metadata2


def test_digits_split_seed_changes_folds(digits_prepared):
    x, y, folds, metadata = digits_prepared
    x2, y2, folds2, metadata2 = data.prepare(digits_config(split_seed=1), dict(CV))
    np.testing.assert_array_equal(x, x2)  # same examples, same order
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(folds, folds2)
    assert metadata2["sha256"]["folds"] != metadata["sha256"]["folds"]
    assert metadata2["sha256"]["x"] == metadata["sha256"]["x"]
    assert metadata2["split_seed"] == 1
    # Still the same sizes.
    assert metadata2["test_examples"] == metadata["test_examples"]


def test_sha256_depends_on_content_and_layout():
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    assert data.sha256(a) == data.sha256(a.copy())
    assert data.sha256(a.T) == data.sha256(np.ascontiguousarray(a.T))
    assert data.sha256(a) != data.sha256(a.T)
    assert data.sha256(a) != data.sha256(a.astype(np.int32))


# --------------------------------------------------------------------------- limit


def test_limit_is_a_stratified_deterministic_subset(digits_prepared):
    full_x, full_y, _, _ = digits_prepared
    config = digits_config(limit=200)
    x, y, folds, metadata = data.prepare(config, dict(CV))
    assert x.shape == (200, 8, 8) and y.shape == (200,) and folds.shape == (200,)
    assert metadata["examples"] == 200
    expected = shares(full_y, 10) * 200
    assert np.all(np.abs(np.bincount(y, minlength=10) - expected) <= 1)

    keep = data.stratified_subset(full_y, 200, 0)
    assert len(keep) == 200 and np.all(np.diff(keep) > 0)  # sorted, no repeats
    np.testing.assert_array_equal(x, full_x[keep])
    np.testing.assert_array_equal(y, full_y[keep])

    x2, y2, folds2, metadata2 = data.prepare(config, dict(CV))
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(folds, folds2)
    assert metadata == metadata2

    _, _, _, other = data.prepare(digits_config(limit=200, split_seed=5), dict(CV))
    assert other["sha256"]["x"] != metadata["sha256"]["x"]


def test_limit_at_or_above_size_keeps_everything(digits_prepared):
    labels = digits_prepared[1]
    np.testing.assert_array_equal(data.stratified_subset(labels, 1797, 0), np.arange(1797))
    np.testing.assert_array_equal(data.stratified_subset(labels, 5000, 0), np.arange(1797))
    _, _, _, metadata = data.prepare(digits_config(limit=5000), dict(CV))
    assert metadata["sha256"] == digits_prepared[3]["sha256"]


def test_rarest_class_too_small_for_the_folds():
    # 30 digits -> 3 per class; 3 folds plus a test set need 4.
    with pytest.raises(data.DataError, match="rarest class has 3 examples") as info:
        data.prepare(digits_config(limit=30), {"folds": 3, "test_fraction": 0.2})
    message = str(info.value)
    assert "at least 4 per class" in message
    assert "dataset.limit" in message and "cv.folds" in message


def test_rarest_class_counts_only_present_labels(tmp_path):
    # Labels 0 and 5 (1..4 absent): the absent ones must not count as a class of 0 examples.
    path = tmp_path / "gappy.npz"
    labels = np.array([0] * 12 + [5] * 3)
    np.savez(path, x_train=np.zeros((15, 2, 2), np.uint8), y_train=labels)
    config = {"name": "mnist", "path": str(path), "limit": None, "split_seed": 0}
    with pytest.raises(data.DataError, match="rarest class has 3 examples"):
        data.prepare(config, {"folds": 3, "test_fraction": 0.2})


@pytest.mark.parametrize("test_fraction", [0.2, 0.85])
def test_test_fraction_too_small_or_large_for_the_classes(test_fraction):
    # limit 30 (schema minimum is 20) with 2 folds passes the rarest-class check, but 20% of 30
    # is a 6-example test set for 10 classes, and 85% leaves 4 for cross-validation.
    with pytest.raises(data.DataError, match="cv.test_fraction") as info:
        data.prepare(digits_config(limit=30), {"folds": 2, "test_fraction": test_fraction})
    assert "dataset.limit" in str(info.value)


# --------------------------------------------------------------------------- load_fold


@pytest.mark.parametrize("fold", [0, 1, 2])
def test_load_fold_partitions(written_split, fold):
    x, y, folds, paths = written_split
    part = data.load_fold(paths["x"], paths["y"], paths["folds"], fold)
    ids = data.load_fold(paths["ids"], paths["y"], paths["folds"], fold)
    train = ids.x_train.reshape(-1).astype(np.int64)
    val = ids.x_val.reshape(-1).astype(np.int64)

    assert not set(train) & set(val)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])),
                                  np.flatnonzero(folds != data.TEST_FOLD))
    np.testing.assert_array_equal(val, np.flatnonzero(folds == fold))
    test = set(np.flatnonzero(folds == data.TEST_FOLD))
    assert not test & set(train) and not test & set(val)

    np.testing.assert_array_equal(part.x_train, x[train])
    np.testing.assert_array_equal(part.y_train, y[train])
    np.testing.assert_array_equal(part.x_val, x[val])
    np.testing.assert_array_equal(part.y_val, y[val])
    assert part.classes == 10
    assert type(part.x_train) is np.ndarray and type(part.x_val) is np.ndarray
    assert part.x_train.dtype == np.float32 and part.y_train.dtype == np.int64


def test_load_fold_validation_sets_tile_the_cv_pool(written_split):
    _, _, folds, paths = written_split
    vals = [data.load_fold(paths["ids"], paths["y"], paths["folds"], k).x_val.reshape(-1)
            for k in range(3)]
    pooled = np.concatenate(vals).astype(np.int64)
    assert len(set(pooled)) == len(pooled)
    np.testing.assert_array_equal(np.sort(pooled), np.flatnonzero(folds != data.TEST_FOLD))


def test_load_train_test(written_split):
    x, y, folds, paths = written_split
    part = data.load_train_test(paths["x"], paths["y"], paths["folds"])
    ids = data.load_train_test(paths["ids"], paths["y"], paths["folds"])
    train = ids.x_train.reshape(-1).astype(np.int64)
    test = ids.x_val.reshape(-1).astype(np.int64)
    np.testing.assert_array_equal(train, np.flatnonzero(folds != data.TEST_FOLD))
    np.testing.assert_array_equal(test, np.flatnonzero(folds == data.TEST_FOLD))
    np.testing.assert_array_equal(part.x_train, x[train])
    np.testing.assert_array_equal(part.y_val, y[test])
    assert len(part.y_train) + len(part.y_val) == len(y)
    assert part.classes == 10


def test_written_arrays_match_metadata_checksums(written_split, digits_prepared):
    _, _, _, paths = written_split
    metadata = digits_prepared[3]
    for name in ("x", "y", "folds"):
        assert data.sha256(np.load(paths[name])) == metadata["sha256"][name]


# --------------------------------------------------------------------------- fileio.write_npy


def test_write_npy_is_byte_identical(tmp_path, digits_prepared):
    x = digits_prepared[0]
    first, second = tmp_path / "a.npy", tmp_path / "b.npy"
    fileio.write_npy(first, x)
    fileio.write_npy(second, x.copy())
    assert first.read_bytes() == second.read_bytes()
    before = first.read_bytes()
    fileio.write_npy(first, x)  # overwrite in place
    assert first.read_bytes() == before
    np.testing.assert_array_equal(np.load(first), x)
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind


def test_write_npy_non_contiguous_input(tmp_path):
    a = np.arange(40, dtype=np.int64).reshape(5, 8)[:, ::2]
    fileio.write_npy(tmp_path / "view.npy", a)
    fileio.write_npy(tmp_path / "copy.npy", np.ascontiguousarray(a))
    assert (tmp_path / "view.npy").read_bytes() == (tmp_path / "copy.npy").read_bytes()
    np.testing.assert_array_equal(np.load(tmp_path / "view.npy"), a)


# --------------------------------------------------------------------------- dataset.classes


def test_classes_keeps_those_labels_renumbered_in_the_given_order(digits_prepared):
    full_x, full_y, _, _ = digits_prepared
    x, y, folds, metadata = data.prepare(digits_config(classes=[3, 1]), dict(CV))
    source = np.isin(full_y, [3, 1])
    np.testing.assert_array_equal(x, full_x[source])
    np.testing.assert_array_equal(y, np.where(full_y[source] == 3, 0, 1))
    assert metadata["classes"] == [0, 1]
    assert metadata["original_labels"] == [3, 1]
    assert metadata["examples"] == int(source.sum())
    assert set(np.unique(folds).tolist()) == {data.TEST_FOLD, 0, 1, 2}
    assert digits_prepared[3]["original_labels"] == list(range(10))  # default: every class


def test_classes_apply_before_the_limit():
    x, y, _, metadata = data.prepare(digits_config(classes=[0, 1, 2], limit=60), dict(CV))
    assert len(y) == 60 and np.bincount(y).tolist() == [20, 20, 20]
    assert metadata["original_labels"] == [0, 1, 2]


@pytest.mark.parametrize("classes, words", [
    ([7], "needs at least 2 labels"),
    ([1, 7, 1], "label(s) [1] given more than once"),
    ([1, 11], "label(s) [11] not in sklearn:digits; labels present: 0, 1, 2"),
])
def test_prepare_refuses_bad_classes(classes, words):
    # The schema and the pre-flight refuse these first; prepare_data checks again because it
    # can be called without them.
    with pytest.raises(data.DataError) as info:
        data.prepare(digits_config(classes=classes), dict(CV))
    assert words in str(info.value) and "dataset.classes" in str(info.value)

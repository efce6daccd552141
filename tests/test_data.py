"""Tests for hpstudy.data: IDX/.npz loading, normalisation, the hold-out + k-fold split and
the per-fold loaders. Everything is real: IDX files are built byte by byte in tmp_path, the
digits set comes from scikit-learn and Fashion-MNIST from Debian's dataset-fashion-mnist."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest

from hpstudy import data, fileio
from tests.helpers.idx_files import idx_bytes, random_images, write_idx, write_split

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

DIGITS = {"name": "digits", "path": None, "limit": None, "split_seed": 0}
CV = {"folds": 3, "test_fraction": 0.2}


# --------------------------------------------------------------------------- helpers


def digits_config(**overrides) -> dict:
    return {**DIGITS, **overrides}


def shares(labels: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(labels, minlength=n_classes) / len(labels)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def fashion() -> data.Dataset:
    if not FASHION_DIR.is_dir():
        pytest.skip(f"{FASHION_DIR} absent: install the Debian package dataset-fashion-mnist")
    return data.load_idx_dir(FASHION_DIR)


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


# --------------------------------------------------------------------------- read_idx


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_round_trips_images_and_labels(tmp_path, suffix):
    rng = np.random.default_rng(1)
    images = random_images(rng, 7, 3, 5)
    labels = rng.integers(0, 10, size=7, dtype=np.uint8)
    image_file = write_idx(tmp_path / f"img{suffix}", images, IMAGES_MAGIC)
    label_file = write_idx(tmp_path / f"lab{suffix}", labels, LABELS_MAGIC)
    if suffix:
        assert image_file.read_bytes()[:2] == b"\x1f\x8b"  # really gzipped

    got_images, got_labels = data.read_idx(image_file), data.read_idx(str(label_file))
    assert got_images.shape == (7, 3, 5) and got_images.dtype == np.uint8
    assert got_labels.shape == (7,) and got_labels.dtype == np.uint8
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_read_idx_header_is_big_endian(tmp_path):
    # 300 rows of 1x258: dims > 255 only parse right when read big-endian.
    images = np.arange(300 * 258, dtype=np.int64).astype(np.uint8).reshape(300, 1, 258)
    got = data.read_idx(write_idx(tmp_path / "big", images))
    assert got.shape == (300, 1, 258)
    np.testing.assert_array_equal(got, images)
    assert (tmp_path / "big").read_bytes()[:8] == bytes([0, 0, 8, 3, 0, 0, 1, 44])


def test_read_idx_empty_dimension(tmp_path):
    got = data.read_idx(write_idx(tmp_path / "empty", np.zeros((0, 2, 2), dtype=np.uint8)))
    assert got.shape == (0, 2, 2)


@pytest.mark.parametrize("magic", [0x00000C03, 0x01000803, 0x00010803, 0x00000903])
def test_read_idx_bad_magic(tmp_path, magic):
    path = write_idx(tmp_path / "bad-magic", np.zeros((2, 2, 2), np.uint8), magic)
    with pytest.raises(data.DataError, match="bad magic") as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_too_short_for_magic(tmp_path):
    path = tmp_path / "tiny"
    path.write_bytes(b"\x00\x00")
    with pytest.raises(data.DataError, match="bad magic") as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_zero_dimensions(tmp_path):
    path = tmp_path / "nodims"
    path.write_bytes(bytes([0, 0, 8, 0]))
    with pytest.raises(data.DataError, match="truncated header") as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_truncated_header(tmp_path):
    path = tmp_path / "short-header"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 5, 0, 0]))  # needs 16 header bytes
    with pytest.raises(data.DataError, match="truncated header") as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_truncated_payload(tmp_path, suffix):
    payload = idx_bytes(np.ones((4, 3, 3), np.uint8))[:-5]
    path = tmp_path / f"truncated{suffix}"
    path.write_bytes(gzip.compress(payload) if suffix else payload)
    with pytest.raises(data.DataError) as info:
        data.read_idx(path)
    message = str(info.value)
    assert str(path) in message
    assert "(4, 3, 3)" in message and "52 bytes" in message and "47 bytes" in message


def test_read_idx_payload_longer_than_header(tmp_path):
    path = tmp_path / "too-long"
    path.write_bytes(idx_bytes(np.ones((2, 2), np.uint8)) + b"\x00")
    with pytest.raises(data.DataError, match=r"header says shape \(2, 2\)") as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_gz_that_is_not_gzip(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(idx_bytes(np.ones((2, 2, 2), np.uint8)))  # plain IDX under a .gz name
    with pytest.raises(data.DataError, match="corrupt IDX file") as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_cut_off_gzip_stream(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.ones((20, 4, 4), np.uint8)))[:-12])
    with pytest.raises(data.DataError, match="corrupt IDX file") as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_missing_file(tmp_path):
    path = tmp_path / "nope"
    with pytest.raises(data.DataError) as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


def test_data_error_is_a_value_error():
    assert issubclass(data.DataError, ValueError)


# --------------------------------------------------------------------------- IDX directories


def test_load_idx_dir_pools_train_then_test(tmp_path):
    rng = np.random.default_rng(2)
    train_x, test_x = random_images(rng, 12), random_images(rng, 5)
    train_y = rng.integers(0, 10, 12, dtype=np.uint8)
    test_y = rng.integers(0, 10, 5, dtype=np.uint8)
    write_split(tmp_path, "train", train_x, train_y, gz=True)
    write_split(tmp_path, "t10k", test_x, test_y, gz=False)

    dataset = data.load_idx_dir(tmp_path)
    assert dataset.images.shape == (17, 5, 4)
    np.testing.assert_array_equal(dataset.images, np.concatenate([train_x, test_x]))
    np.testing.assert_array_equal(dataset.labels, np.concatenate([train_y, test_y]))
    assert dataset.labels.dtype == np.int64
    assert dataset.scale == 255.0
    assert dataset.source == f"idx:{tmp_path.name}"


def test_load_idx_dir_dotted_names_and_train_only(tmp_path):
    rng = np.random.default_rng(3)
    images, labels = random_images(rng, 6), rng.integers(0, 3, 6, dtype=np.uint8)
    write_split(tmp_path, "train", images, labels, dotted=True)
    dataset = data.load_idx_dir(tmp_path)
    np.testing.assert_array_equal(dataset.images, images)
    np.testing.assert_array_equal(dataset.labels, labels)


def test_load_idx_dir_plain_file_wins_over_gz(tmp_path):
    rng = np.random.default_rng(4)
    plain_x, gz_x = random_images(rng, 3), random_images(rng, 3)
    labels = np.array([0, 1, 2], np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte", plain_x)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", gz_x)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    np.testing.assert_array_equal(data.load_idx_dir(tmp_path).images, plain_x)


def test_load_idx_dir_without_idx_files(tmp_path):
    (tmp_path / "README").write_text("nothing here\n")
    with pytest.raises(data.DataError, match="no MNIST-format IDX files") as info:
        data.load_idx_dir(tmp_path)
    assert "dataset.path" in str(info.value) and str(tmp_path) in str(info.value)


def test_load_idx_dir_images_without_labels(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(data.DataError, match="no MNIST-format IDX files"):
        data.load_idx_dir(tmp_path)


def test_load_idx_dir_half_a_test_split(tmp_path):
    rng = np.random.default_rng(5)
    write_split(tmp_path, "train", random_images(rng, 4), np.arange(4, dtype=np.uint8))
    write_idx(tmp_path / "t10k-images-idx3-ubyte", random_images(rng, 2))
    with pytest.raises(data.DataError, match="test images and labels must both") as info:
        data.load_idx_dir(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_load_idx_dir_count_mismatch(tmp_path):
    rng = np.random.default_rng(6)
    write_split(tmp_path, "train", random_images(rng, 5), np.arange(4, dtype=np.uint8))
    with pytest.raises(data.DataError, match="5 images but 4 labels") as info:
        data.load_idx_dir(tmp_path)
    assert "train-images-idx3-ubyte / train-labels-idx1-ubyte" in str(info.value)


def test_load_idx_dir_images_file_of_wrong_rank(tmp_path):
    labels = np.arange(4, dtype=np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte", labels)  # labels where images belong
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    with pytest.raises(data.DataError, match=r"shape \(n, height, width\)") as info:
        data.load_idx_dir(tmp_path)
    assert "train-images-idx3-ubyte" in str(info.value)


def test_load_idx_dir_corrupt_member_names_the_file(tmp_path):
    rng = np.random.default_rng(7)
    write_split(tmp_path, "train", random_images(rng, 4), np.arange(4, dtype=np.uint8), gz=True)
    bad = tmp_path / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(data.DataError) as info:
        data.load_idx_dir(tmp_path)
    assert str(bad) in str(info.value)


# --------------------------------------------------------------------------- real Fashion-MNIST


def test_fashion_mnist_from_debian_package(fashion):
    assert fashion.images.shape == (70000, 28, 28)
    assert fashion.images.dtype == np.uint8
    assert fashion.labels.shape == (70000,)
    assert fashion.labels.dtype == np.int64
    np.testing.assert_array_equal(np.unique(fashion.labels), np.arange(10))
    # 6000 training + 1000 test images per class.
    np.testing.assert_array_equal(np.bincount(fashion.labels), np.full(10, 7000))
    assert fashion.scale == 255.0 and fashion.images.max() == 255
    assert fashion.source == "idx:fashion-mnist"


def test_fashion_mnist_prepare_with_limit(fashion):
    config = {"name": "fashion_mnist", "path": str(FASHION_DIR), "limit": 1000, "split_seed": 0}
    x, y, folds, metadata = data.prepare(config, dict(CV))
    assert x.shape == (1000, 28, 28) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 100))  # balanced source
    assert metadata["source"] == "idx:fashion-mnist"
    assert metadata["image_shape"] == [28, 28]
    assert metadata["normalisation"] == "pixels / 255 -> [0, 1], float32"
    # Each kept example is the source image scaled by 1/255.
    keep = data.stratified_subset(fashion.labels, 1000, 0)
    np.testing.assert_array_equal(x, fashion.images[keep].astype(np.float32) / np.float32(255))
    assert (folds == data.TEST_FOLD).sum() == 200


# --------------------------------------------------------------------------- .npz and load()


def test_load_npz_keras_style_pools_train_and_test(tmp_path):
    rng = np.random.default_rng(8)
    x_train, x_test = random_images(rng, 9), random_images(rng, 4)
    y_train, y_test = rng.integers(0, 10, 9), rng.integers(0, 10, 4)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)

    dataset = data.load("mnist", str(path))
    np.testing.assert_array_equal(dataset.images, np.concatenate([x_train, x_test]))
    np.testing.assert_array_equal(dataset.labels, np.concatenate([y_train, y_test]))
    assert dataset.labels.dtype == np.int64
    assert dataset.scale == 255.0
    assert dataset.source == "npz:mnist.npz"


def test_load_npz_train_only_and_float_scale(tmp_path):
    rng = np.random.default_rng(9)
    x = rng.random((6, 3, 3)).astype(np.float32)  # already in [0, 1]
    path = tmp_path / "floats.npz"
    np.savez(path, x_train=x, y_train=np.arange(6))
    dataset = data.load_npz(path)
    np.testing.assert_array_equal(dataset.images, x)
    assert dataset.scale == 1.0
    # Floats beyond 1 are taken as 0..255 pixels.
    np.savez(path, x_train=x * 255, y_train=np.arange(6))
    assert data.load_npz(path).scale == 255.0


def test_load_npz_without_x_train(tmp_path):
    path = tmp_path / "wrong.npz"
    np.savez(path, images=np.zeros((2, 2, 2)), y_train=np.zeros(2))
    with pytest.raises(data.DataError, match="expected arrays x_train and y_train") as info:
        data.load("mnist", str(path))
    assert str(path) in str(info.value) and "images" in str(info.value)


def test_load_npz_count_mismatch(tmp_path):
    path = tmp_path / "mismatch.npz"
    np.savez(path, x_train=np.zeros((3, 2, 2), np.uint8), y_train=np.zeros(2))
    with pytest.raises(data.DataError, match="3 images but 2 labels") as info:
        data.load_npz(path)
    assert "mismatch.npz" in str(info.value)


def test_load_npz_that_is_not_an_archive(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"this is not a zip archive")
    with pytest.raises(data.DataError, match="not a readable .npz") as info:
        data.load("mnist", str(path))
    assert str(path) in str(info.value)


def test_load_path_that_is_neither_directory_nor_npz(tmp_path):
    path = tmp_path / "mnist.csv"
    path.write_text("1,2,3\n")
    with pytest.raises(data.DataError, match="expected a directory of IDX files or a .npz") as i:
        data.load("mnist", str(path))
    assert "dataset.path" in str(i.value) and str(path) in str(i.value)


def test_load_missing_path(tmp_path):
    path = tmp_path / "does-not-exist"
    with pytest.raises(data.DataError, match="no such file or directory") as info:
        data.load("fashion_mnist", str(path))
    assert "dataset.path" in str(info.value) and str(path) in str(info.value)


def test_load_directory_path_goes_to_idx(tmp_path):
    rng = np.random.default_rng(10)
    images = random_images(rng, 3)
    write_split(tmp_path, "train", images, np.array([0, 1, 0], np.uint8))
    np.testing.assert_array_equal(data.load("mnist", str(tmp_path)).images, images)


def test_prepare_from_npz_path(tmp_path):
    rng = np.random.default_rng(11)
    images = random_images(rng, 60)
    labels = np.repeat(np.arange(3), 20)
    path = tmp_path / "small.npz"
    np.savez(path, x_train=images, y_train=labels)
    config = {"name": "mnist", "path": str(path), "limit": None, "split_seed": 3}
    x, y, folds, metadata = data.prepare(config, {"folds": 2, "test_fraction": 0.25})
    np.testing.assert_array_equal(x, images.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(y, labels)
    assert metadata["source"] == "npz:small.npz"
    assert metadata["test_examples"] == 15 and sum(metadata["fold_sizes"]) == 45


def test_prepare_needs_two_classes(tmp_path):
    path = tmp_path / "one-class.npz"
    np.savez(path, x_train=np.zeros((30, 2, 2), np.uint8), y_train=np.zeros(30, np.int64))
    config = {"name": "mnist", "path": str(path), "limit": None, "split_seed": 0}
    with pytest.raises(data.DataError, match="at least 2 classes"):
        data.prepare(config, dict(CV))


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


_LOAD_MNIST = """
import sys
from hpstudy import data
try:
    data.load("mnist", None)
except data.DataError as error:
    print(error)
    sys.exit(0)
sys.exit("Keras found or downloaded MNIST")
"""


def test_keras_download_failure_says_how_to_use_local_files(tmp_path):
    """Keras' downloader fails (network or not): a fresh interpreter whose Keras cache is an
    empty directory and whose HTTP(S) goes through a proxy at a closed local port. The error
    names the dataset and points at dataset.path."""
    import os
    import subprocess
    import sys

    from tests.helpers.workdir import REPO

    home = tmp_path / "keras-home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items()
           if key.lower() not in {"no_proxy", "http_proxy", "https_proxy", "all_proxy"}}
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused
    env.update(KERAS_HOME=str(home), HOME=str(tmp_path), https_proxy=closed, http_proxy=closed,
               PYTHONPATH=str(REPO / "workflow"), TF_CPP_MIN_LOG_LEVEL="3",
               CUDA_VISIBLE_DEVICES="-1")
    result = subprocess.run([sys.executable, "-c", _LOAD_MNIST], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    message = result.stdout
    assert "dataset.name mnist: Keras could not download" in message
    assert "storage.googleapis.com" in message  # the download was tried, and failed
    assert "dataset.path" in message and "IDX" in message
    assert not list(home.rglob("mnist.npz"))


# --------------------------------------------------------------------------- check_source


def idx_config(path: Path, **overrides) -> dict:
    return {"name": "mnist", "path": str(path), "classes": None, "limit": None,
            "split_seed": 0, **overrides}


def test_read_idx_shape_matches_read_idx(tmp_path):
    rng = np.random.default_rng(12)
    for name in ("plain", "zipped.gz"):
        path = write_idx(tmp_path / name, random_images(rng, 6, 3, 2))
        assert data.read_idx_shape(path) == data.read_idx(path).shape == (6, 3, 2)


def test_read_idx_shape_reads_only_the_header_and_trailer(tmp_path):
    """A gz whose deflate stream is damaged in the middle but whose header and trailer are
    intact passes the pre-flight (it does not decompress the payload); the loader, which
    reads everything, still refuses it."""
    path = tmp_path / "train-images-idx3-ubyte.gz"
    payload = bytearray(gzip.compress(idx_bytes(random_images(np.random.default_rng(13), 400,
                                                              10, 10)), mtime=0))
    middle = len(payload) // 2
    payload[middle:middle + 64] = bytes(64)
    path.write_bytes(bytes(payload))
    assert data.read_idx_shape(path) == (400, 10, 10)
    with pytest.raises(data.DataError, match="corrupt IDX file") as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_shape_accepts_multi_member_gzip(tmp_path):
    # bgzip writes several gzip members; the trailer then records only the last one's size,
    # so the pre-flight falls back to reading the file rather than refusing a valid one.
    images = random_images(np.random.default_rng(14), 8, 4, 4)
    raw = idx_bytes(images)
    path = tmp_path / "multi.gz"
    path.write_bytes(gzip.compress(raw[:50], mtime=0) + gzip.compress(raw[50:], mtime=0))
    assert data.read_idx_shape(path) == (8, 4, 4)
    np.testing.assert_array_equal(data.read_idx(path), images)


def _broken_sources(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Each broken source the pre-flight must refuse: (dataset.path, words of the error)."""
    rng = np.random.default_rng(15)
    cases = {}

    def directory(name: str) -> Path:
        path = tmp_path / name
        path.mkdir()
        return path

    missing = tmp_path / "missing"
    cases["missing path"] = (missing, "no such file or directory")
    csv = tmp_path / "digits.csv"
    csv.write_text("1,2\n")
    cases["neither directory nor npz"] = (csv, "expected a directory of IDX files or a .npz")
    cases["directory without IDX files"] = (directory("empty"), "no MNIST-format IDX files")

    bad_magic = directory("bad-magic")
    write_split(bad_magic, "train", random_images(rng, 4), np.arange(4, dtype=np.uint8))
    write_idx(bad_magic / "train-images-idx3-ubyte", random_images(rng, 4), 0x00000C03)
    cases["bad magic"] = (bad_magic, "bad magic number")

    for suffix in ("", ".gz"):
        truncated = directory(f"truncated{suffix or '-plain'}")
        write_split(truncated, "train", random_images(rng, 4, 3, 3), np.arange(4, dtype=np.uint8))
        payload = idx_bytes(random_images(rng, 4, 3, 3))[:-5]
        (truncated / "train-images-idx3-ubyte").unlink()
        (truncated / f"train-images-idx3-ubyte{suffix}").write_bytes(
            gzip.compress(payload, mtime=0) if suffix else payload)
        cases[f"truncated payload{suffix}"] = (truncated, "(52 bytes) but the file has 47 bytes")

    not_gzip = directory("not-gzip")
    write_idx(not_gzip / "train-labels-idx1-ubyte", np.arange(4, dtype=np.uint8))
    (not_gzip / "train-images-idx3-ubyte.gz").write_bytes(idx_bytes(random_images(rng, 4)))
    cases["gz that is not gzip"] = (not_gzip, "Not a gzipped file")

    mismatch = directory("count-mismatch")
    write_split(mismatch, "train", random_images(rng, 5), np.arange(4, dtype=np.uint8), gz=True)
    cases["images and labels differ in count"] = (mismatch, "5 images but 4 labels")

    half = directory("half-test-split")
    write_split(half, "train", random_images(rng, 4), np.arange(4, dtype=np.uint8))
    write_idx(half / "t10k-labels-idx1-ubyte", np.arange(2, dtype=np.uint8))
    cases["test labels without images"] = (half, "test images and labels must both")

    rank = directory("wrong-rank")
    write_idx(rank / "train-images-idx3-ubyte", np.arange(4, dtype=np.uint8))
    write_idx(rank / "train-labels-idx1-ubyte", np.arange(4, dtype=np.uint8))
    cases["images of rank 1"] = (rank, "images must have shape (n, height, width)")

    no_x_train = tmp_path / "no-x-train.npz"
    np.savez(no_x_train, images=np.zeros((2, 2, 2)), y_train=np.zeros(2))
    cases["npz without x_train"] = (no_x_train, "expected arrays x_train and y_train")
    npz_mismatch = tmp_path / "npz-mismatch.npz"
    np.savez_compressed(npz_mismatch, x_train=np.zeros((3, 2, 2), np.uint8), y_train=np.zeros(2))
    cases["npz count mismatch"] = (npz_mismatch, "3 images but 2 labels")
    not_npz = tmp_path / "not-an-archive.npz"
    not_npz.write_bytes(b"this is not a zip archive")
    cases["npz that is not an archive"] = (not_npz, "not a readable .npz archive")
    return cases


def test_check_source_refuses_what_the_loader_refuses_with_the_same_message(tmp_path):
    for case, (path, words) in _broken_sources(tmp_path).items():
        with pytest.raises(data.DataError) as preflight:
            data.check_source(idx_config(path))
        with pytest.raises(data.DataError) as loader:
            data.load("mnist", str(path))
        message = str(preflight.value)
        assert words in message, f"{case}: {words!r} not in {message!r}"
        assert str(path.name) in message, f"{case}: the file is not named: {message!r}"
        assert "\n" not in message, f"{case}: not one line: {message!r}"
        assert message == str(loader.value), case


@pytest.mark.parametrize("gz", [False, True])
def test_check_source_accepts_valid_idx_directories(tmp_path, gz):
    rng = np.random.default_rng(16)
    write_split(tmp_path, "train", random_images(rng, 6), np.arange(6, dtype=np.uint8), gz=gz)
    write_split(tmp_path, "t10k", random_images(rng, 2), np.arange(2, dtype=np.uint8), gz=gz,
                dotted=True)
    facts = data.check_source(idx_config(tmp_path))
    # What it saw: the images' shape from the header, every label of both splits counted.
    assert facts.image_shape == (5, 4)
    assert facts.label_counts == {0: 2, 1: 2, 2: 1, 3: 1, 4: 1, 5: 1}


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_check_source_accepts_valid_npz(tmp_path, save):
    path = tmp_path / "mnist.npz"
    save(path, x_train=np.zeros((3, 2, 2), np.uint8), y_train=np.arange(3),
         x_test=np.zeros((1, 2, 2), np.uint8), y_test=np.arange(1))
    facts = data.check_source(idx_config(path))
    assert facts.image_shape == (2, 2) and facts.label_counts == {0: 2, 1: 1, 2: 1}


def test_check_source_without_a_path_knows_the_named_datasets():
    # digits is bundled: its label counts are constants, checked here against the real set;
    # a Keras download is looked at when prepare_data runs (no counts before).
    from sklearn.datasets import load_digits

    facts = data.check_source({**DIGITS, "classes": None})
    real = load_digits()
    assert facts.image_shape == real.images.shape[1:] == (8, 8)
    assert facts.label_counts == dict(enumerate(np.bincount(real.target).tolist()))
    for name in ("mnist", "fashion_mnist"):
        facts = data.check_source({**DIGITS, "name": name, "classes": None})
        assert facts.image_shape == (28, 28) and facts.label_counts is None


def test_check_source_checks_classes_against_the_labels_present(tmp_path):
    rng = np.random.default_rng(17)
    write_split(tmp_path, "train", random_images(rng, 6), np.array([0, 2, 4, 0, 2, 4], np.uint8),
                gz=True)
    assert data.check_source(idx_config(tmp_path, classes=[4, 0])).label_counts == {
        0: 2, 2: 2, 4: 2}
    with pytest.raises(data.DataError) as info:
        data.check_source(idx_config(tmp_path, classes=[0, 1, 9]))
    assert str(info.value) == (f"dataset.classes: label(s) [1, 9] not in dataset.path "
                               f"{tmp_path}; labels present: 0, 2, 4")
    npz = tmp_path / "labels.npz"
    np.savez(npz, x_train=random_images(rng, 3), y_train=np.array([5, 6, 7]))
    with pytest.raises(data.DataError, match=r"\[1\] not in dataset.path .*present: 5, 6, 7"):
        data.check_source(idx_config(npz, classes=[5, 1]))
    with pytest.raises(data.DataError, match=r"\[10\] not in digits; labels present: 0, 1"):
        data.check_source({**DIGITS, "classes": [0, 10]})


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

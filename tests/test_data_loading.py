"""hpstudy.data's loaders: IDX files and directories (built byte by byte in tmp_path), .npz
archives, load() and prepare() from a path, the real Fashion-MNIST of Debian's
dataset-fashion-mnist, and Keras' download of MNIST failing."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from hpstudy import data
from tests.helpers.datasets import CV
from tests.helpers.idx_files import idx_bytes, random_images, write_idx, write_split

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def fashion() -> data.Dataset:
    if not FASHION_DIR.is_dir():
        pytest.skip(f"{FASHION_DIR} absent: install the Debian package dataset-fashion-mnist")
    return data.load_idx_dir(FASHION_DIR)


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
    with pytest.raises(data.DataError, match=r"expected arrays x_train and y_train "
                                             r"\(Keras-style images\), or X and y") as info:
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


def test_load_path_that_is_neither_directory_npz_nor_table(tmp_path):
    path = tmp_path / "mnist.txt"
    path.write_text("1,2,3\n")
    with pytest.raises(data.DataError, match=r"expected a directory of IDX files, a \.npz, or "
                                             r"a table \(\.csv, \.parquet\)") as i:
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


# --------------------------------------------------------------------------- Keras' download


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

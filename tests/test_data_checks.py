"""hpstudy.data's pre-flight: read_idx_shape and check_source refuse a broken data source with
the loader's message, without loading it (IDX files built byte by byte in tmp_path)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from hpstudy import data
from tests.helpers.datasets import DIGITS
from tests.helpers.idx_files import idx_bytes, random_images, write_idx, write_split

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
    text = tmp_path / "digits.txt"
    text.write_text("1,2\n")
    cases["neither directory, npz nor table"] = (
        text, "expected a directory of IDX files, a .npz, or a table (.csv, .parquet)")
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

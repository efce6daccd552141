"""Data prep: load a dataset, normalise it, fix the hold-out test set and the k-fold split.

Written once by the prepare_data job under results/data/:
- x.npy: float32 images in [0, 1], shape (n, height, width);
- y.npy: int64 labels;
- folds.npy: int8 per example: -1 = held-out test set, 0..k-1 = its cross-validation fold;
- dataset.json: source, shapes, classes and sha256 checksums of the three arrays.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TEST_FOLD = -1

# Names the IDX files go by (MNIST's own, and the dotted variant some mirrors use).
_IDX_PARTS = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


class DataError(ValueError):
    """Data that cannot be used; the message names the file or setting."""


@dataclass(frozen=True)
class Dataset:
    images: np.ndarray  # uint8 or float, (n, h, w)
    labels: np.ndarray  # (n,)
    scale: float  # divide images by this to get [0, 1]
    source: str


def read_idx(path: str | Path) -> np.ndarray:
    """Parse one IDX file (gzipped or not), checking its header against its size."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            payload = handle.read()
    except (OSError, EOFError) as error:
        raise DataError(f"corrupt IDX file {path}: {error}") from error
    if len(payload) < 4 or payload[0] != 0 or payload[1] != 0 or payload[2] != 0x08:
        raise DataError(f"corrupt IDX file {path}: bad magic number (expected unsigned-byte "
                        f"IDX, 0x0000080N)")
    ndim = payload[3]
    header = 4 + 4 * ndim
    if ndim < 1 or len(payload) < header:
        raise DataError(f"corrupt IDX file {path}: truncated header")
    shape = tuple(int.from_bytes(payload[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(payload) != expected:
        raise DataError(f"corrupt IDX file {path}: header says shape {shape} "
                        f"({expected} bytes) but the file has {len(payload)} bytes")
    return np.frombuffer(payload, dtype=np.uint8, offset=header).reshape(shape)


def _find_idx(directory: Path, part: str) -> Path | None:
    for stem in _IDX_PARTS[part]:
        for name in (stem, stem + ".gz"):
            if (directory / name).is_file():
                return directory / name
    return None


def _pair(images: np.ndarray, labels: np.ndarray, what: str) -> None:
    if images.ndim != 3:
        raise DataError(f"{what}: images must have shape (n, height, width), got {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{what}: {len(images)} images but {labels.shape[0]} labels")


def load_idx_dir(directory: Path) -> Dataset:
    found = {part: _find_idx(directory, part) for part in _IDX_PARTS}
    if found["train_images"] is None or found["train_labels"] is None:
        raise DataError(
            f"dataset.path {directory}: no MNIST-format IDX files (expected "
            f"train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz], optionally t10k-*)")
    images, labels = [], []
    for split in ("train", "test"):
        image_file, label_file = found[f"{split}_images"], found[f"{split}_labels"]
        if image_file is None and label_file is None:
            continue
        if image_file is None or label_file is None:
            raise DataError(f"dataset.path {directory}: {split} images and labels must both "
                            f"be present")
        split_images, split_labels = read_idx(image_file), read_idx(label_file)
        _pair(split_images, split_labels, f"{image_file.name} / {label_file.name}")
        images.append(split_images)
        labels.append(split_labels)
    return Dataset(np.concatenate(images), np.concatenate(labels).astype(np.int64), 255.0,
                   f"idx:{directory.name}")


def load_npz(path: Path) -> Dataset:
    """A Keras-style archive: x_train, y_train and optionally x_test, y_test."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except Exception as error:  # zipfile and numpy raise many kinds for a bad archive
        raise DataError(f"dataset.path {path}: not a readable .npz archive ({error})") from error
    if "x_train" not in arrays or "y_train" not in arrays:
        raise DataError(f"dataset.path {path}: expected arrays x_train and y_train, found "
                        f"{sorted(arrays)}")
    images, labels = [arrays["x_train"]], [arrays["y_train"]]
    if "x_test" in arrays and "y_test" in arrays:
        images.append(arrays["x_test"])
        labels.append(arrays["y_test"])
    for x, y in zip(images, labels, strict=True):
        _pair(x, y, f"{path.name}")
    images, labels = np.concatenate(images), np.concatenate(labels).astype(np.int64)
    scale = 255.0 if images.dtype == np.uint8 or images.max() > 1.0 else 1.0
    return Dataset(images, labels, scale, f"npz:{path.name}")


def load_digits() -> Dataset:
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    # Pixel values are counts 0..16 (4x4 blocks of a 32x32 bitmap).
    return Dataset(bunch.images, bunch.target.astype(np.int64), 16.0, "sklearn:digits")


def load_keras(name: str) -> Dataset:
    """Keras' downloader; it reads its cache (~/.keras/datasets) when the files are there."""
    try:
        import keras

        loader = {"mnist": keras.datasets.mnist, "fashion_mnist": keras.datasets.fashion_mnist}
        (x_train, y_train), (x_test, y_test) = loader[name].load_data()
    except Exception as error:
        raise DataError(
            f"dataset.name {name}: Keras could not download or find it in its cache "
            f"({type(error).__name__}: {error}). Offline? Point dataset.path at local "
            f"MNIST-format files: a directory of IDX files (e.g. Debian's dataset-fashion-mnist "
            f"puts them in /usr/share/datasets/fashion-mnist) or a Keras-style .npz") from error
    return Dataset(np.concatenate([x_train, x_test]),
                   np.concatenate([y_train, y_test]).astype(np.int64), 255.0, f"keras:{name}")


def load(name: str, path: str | None) -> Dataset:
    if path is not None:
        source = Path(path)
        if source.is_dir():
            return load_idx_dir(source)
        if source.is_file() and source.suffix == ".npz":
            return load_npz(source)
        if source.exists():
            raise DataError(f"dataset.path {path}: expected a directory of IDX files or a .npz")
        raise DataError(f"dataset.path {path}: no such file or directory")
    if name == "digits":
        return load_digits()
    return load_keras(name)


def stratified_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    from sklearn.model_selection import train_test_split

    if size >= len(labels):
        return np.arange(len(labels))
    keep, _ = train_test_split(np.arange(len(labels)), train_size=size, stratify=labels,
                               random_state=seed)
    return np.sort(keep)


def assign_folds(labels: np.ndarray, folds: int, test_fraction: float, seed: int) -> np.ndarray:
    """Per example: -1 for the held-out test set, else its stratified CV fold."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    index = np.arange(len(labels))
    train, test = train_test_split(index, test_size=test_fraction, stratify=labels,
                                   random_state=seed)
    train = np.sort(train)
    assignment = np.full(len(labels), TEST_FOLD, dtype=np.int8)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fold, (_, held_out) in enumerate(splitter.split(train, labels[train])):
        assignment[train[held_out]] = fold
    return assignment


def sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def prepare(dataset_config: dict, cv_config: dict):
    """Load, subset, normalise and split. Returns (x, y, folds, metadata)."""
    dataset = load(dataset_config["name"], dataset_config["path"])
    seed = dataset_config["split_seed"]
    labels = dataset.labels
    classes = np.unique(labels)
    if len(classes) < 2:
        raise DataError(f"dataset {dataset.source}: needs at least 2 classes, got {len(classes)}")
    keep = np.arange(len(labels))
    if dataset_config["limit"] is not None:
        keep = stratified_subset(labels, dataset_config["limit"], seed)
    x = (dataset.images[keep].astype(np.float32) / np.float32(dataset.scale))
    y = labels[keep]
    counts = np.bincount(y)
    smallest = int(counts[counts > 0].min())
    needed = cv_config["folds"] + 1
    if smallest < needed:
        raise DataError(f"dataset: the rarest class has {smallest} examples; {cv_config['folds']} "
                        f"folds plus a test set need at least {needed} per class "
                        f"(raise dataset.limit or lower cv.folds)")
    # A stratified hold-out needs one example of every class on each side (sklearn's rule:
    # the test set takes ceil(fraction * n)).
    n_classes = int((counts > 0).sum())
    n_test = int(np.ceil(cv_config["test_fraction"] * len(y)))
    if min(n_test, len(y) - n_test) < n_classes:
        raise DataError(f"dataset: cv.test_fraction {cv_config['test_fraction']} of {len(y)} "
                        f"examples gives a test set of {n_test} and {len(y) - n_test} for "
                        f"cross-validation; each needs at least one per class ({n_classes}) "
                        f"(raise dataset.limit or change cv.test_fraction)")
    folds = assign_folds(y, cv_config["folds"], cv_config["test_fraction"], seed)
    metadata = {
        "source": dataset.source,
        "name": dataset_config["name"],
        "examples": int(len(y)),
        "image_shape": list(x.shape[1:]),
        "classes": [int(c) for c in np.unique(y)],
        "folds": cv_config["folds"],
        "test_examples": int((folds == TEST_FOLD).sum()),
        "fold_sizes": [int((folds == k).sum()) for k in range(cv_config["folds"])],
        "normalisation": f"pixels / {dataset.scale:g} -> [0, 1], float32",
        "split_seed": seed,
        "sha256": {"x": sha256(x), "y": sha256(y), "folds": sha256(folds)},
    }
    return x, y, folds, metadata


@dataclass(frozen=True)
class FoldData:
    """The arrays one (trial, fold) job trains and validates on."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    classes: int


def load_fold(x_path, y_path, folds_path, fold: int) -> FoldData:
    x = np.load(x_path, mmap_mode="r")
    y = np.load(y_path)
    assignment = np.load(folds_path)
    train = (assignment != TEST_FOLD) & (assignment != fold)
    val = assignment == fold
    return FoldData(np.asarray(x[train]), y[train], np.asarray(x[val]), y[val],
                    int(y.max()) + 1)


def load_train_test(x_path, y_path, folds_path) -> FoldData:
    """Every CV example for training, the held-out test set for scoring."""
    x = np.load(x_path, mmap_mode="r")
    y = np.load(y_path)
    assignment = np.load(folds_path)
    train, test = assignment != TEST_FOLD, assignment == TEST_FOLD
    return FoldData(np.asarray(x[train]), y[train], np.asarray(x[test]), y[test],
                    int(y.max()) + 1)

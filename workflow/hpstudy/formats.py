"""The file formats of local data: MNIST-style IDX files (gzipped or not); .npz archives, of
images Keras-style (x_train, y_train) or of any examples as X and y; CSV and Parquet tables
of numeric features and a target column.
Readers check what they read (magic, dims, sizes, image/label pairs; a table's target,
types and missing values) and raise DataError naming the file; the `*_shape` readers look
at headers only, for the Snakefile's cheap pre-flight (hpstudy.data.check_source).
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# What reading a damaged file raises: gzip's BadGzipFile is an OSError, a cut-off stream an
# EOFError, damaged deflate data a zlib.error.
_READ_ERRORS = (OSError, EOFError, zlib.error)

# Names the IDX files go by (MNIST's own, and the dotted variant some mirrors use).
_IDX_PARTS = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


class DataError(ValueError):
    """Data that cannot be used; the message names the file or setting."""


TABLE_SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True)
class Dataset:
    images: np.ndarray  # uint8 or float, (n, h, w); a table's features, (n, columns)
    labels: np.ndarray  # (n,): int64 class labels; float64 targets of a regression
    scale: float  # divide images by this to get [0, 1]
    source: str
    # A table's feature columns, in order (None: images); prepare_data standardises them.
    features: tuple[str, ...] | None = None
    # What each label 0..k-1 stands for, when the target column is not integers.
    label_names: tuple[str, ...] | None = None


def _idx_shape(path: Path, head: bytes) -> tuple[tuple[int, ...], int]:
    """(shape, header length) from the first bytes of an IDX file: 4-byte magic 0x0000080N
    (unsigned bytes, N dims), then N big-endian 4-byte dims."""
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] != 0x08:
        raise DataError(f"corrupt IDX file {path}: bad magic number (expected unsigned-byte "
                        f"IDX, 0x0000080N)")
    ndim = head[3]
    header = 4 + 4 * ndim
    if ndim < 1 or len(head) < header:
        raise DataError(f"corrupt IDX file {path}: truncated header")
    shape = tuple(int.from_bytes(head[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return shape, header


def _size_error(path: Path, shape: tuple[int, ...], expected: int, actual: int) -> DataError:
    unzipped = " uncompressed" if path.suffix == ".gz" else ""
    return DataError(f"corrupt IDX file {path}: header says shape {shape} "
                     f"({expected} bytes) but the file has {actual} bytes{unzipped}")


def read_idx(path: str | Path) -> np.ndarray:
    """Parse one IDX file (gzipped or not), checking its header against its size."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            payload = handle.read()
    except _READ_ERRORS as error:
        raise DataError(f"corrupt IDX file {path}: {error}") from error
    shape, header = _idx_shape(path, payload)
    expected = header + int(np.prod(shape))
    if len(payload) != expected:
        raise _size_error(path, shape, expected, len(payload))
    return np.frombuffer(payload, dtype=np.uint8, offset=header).reshape(shape)


def read_idx_shape(path: str | Path) -> tuple[int, ...]:
    """The shape an IDX file holds, checked against the file's size without reading it.

    A plain file: its size must be header + prod(shape). A gzipped one: the header comes from
    the first decompressed bytes, the size from the gzip trailer (ISIZE, the uncompressed size
    mod 2**32). Only when the trailer disagrees is the file read in full, by `read_idx`: for
    the exact error, and because a multi-member gzip (bgzip) records only its last member.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                head = handle.read(4)
                if len(head) == 4:
                    head += handle.read(4 * head[3])
            with open(path, "rb") as raw:
                raw.seek(-4, 2)
                uncompressed = int.from_bytes(raw.read(4), "little")
        else:
            with open(path, "rb") as handle:
                head = handle.read(4)
                if len(head) == 4:
                    head += handle.read(4 * head[3])
            uncompressed = path.stat().st_size
    except _READ_ERRORS as error:
        raise DataError(f"corrupt IDX file {path}: {error}") from error
    shape, header = _idx_shape(path, head)
    expected = header + int(np.prod(shape))
    if path.suffix == ".gz":
        if expected % 2**32 != uncompressed:
            return read_idx(path).shape
    elif uncompressed != expected:
        raise _size_error(path, shape, expected, uncompressed)
    return shape


def _find_idx(directory: Path, part: str) -> Path | None:
    for stem in _IDX_PARTS[part]:
        for name in (stem, stem + ".gz"):
            if (directory / name).is_file():
                return directory / name
    return None


def check_pair(image_shape: tuple[int, ...], label_shape: tuple[int, ...], what: str) -> None:
    if len(image_shape) != 3:
        raise DataError(f"{what}: images must have shape (n, height, width), got {image_shape}")
    if len(label_shape) != 1:
        raise DataError(f"{what}: labels must have shape (n,), got {label_shape}")
    if label_shape[0] != image_shape[0]:
        raise DataError(f"{what}: {image_shape[0]} images but {label_shape[0]} labels")


def pair_name(directory: Path, image_file: Path, label_file: Path) -> str:
    return f"dataset.path {directory}: {image_file.name} / {label_file.name}"


def idx_splits(directory: Path) -> list[tuple[Path, Path]]:
    """(images, labels) files of the train split and, when present, the test split."""
    found = {part: _find_idx(directory, part) for part in _IDX_PARTS}
    if found["train_images"] is None or found["train_labels"] is None:
        raise DataError(
            f"dataset.path {directory}: no MNIST-format IDX files (expected "
            f"train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz], optionally t10k-*)")
    splits = []
    for split in ("train", "test"):
        image_file, label_file = found[f"{split}_images"], found[f"{split}_labels"]
        if image_file is None and label_file is None:
            continue
        if image_file is None or label_file is None:
            raise DataError(f"dataset.path {directory}: {split} images and labels must both "
                            f"be present")
        splits.append((image_file, label_file))
    return splits


def load_idx_dir(directory: Path) -> Dataset:
    images, labels = [], []
    for image_file, label_file in idx_splits(directory):
        split_images, split_labels = read_idx(image_file), read_idx(label_file)
        check_pair(split_images.shape, split_labels.shape,
                    pair_name(directory, image_file, label_file))
        images.append(split_images)
        labels.append(split_labels)
    return Dataset(np.concatenate(images), np.concatenate(labels).astype(np.int64), 255.0,
                   f"idx:{directory.name}")


# An archive of any examples: X (rows of features, or images) and y (their labels).
XY = ("X", "y")


def npz_pairs(path: Path, names) -> list[tuple[str, str]]:
    """The (examples, labels) arrays an archive holds: X and y; or Keras-style x_train,
    y_train and, when both are there, x_test, y_test."""
    if "X" in names and "y" in names:
        return [XY]
    if "x_train" not in names or "y_train" not in names:
        raise DataError(f"dataset.path {path}: expected arrays x_train and y_train "
                        f"(Keras-style images), or X and y (any examples and their labels), "
                        f"found {sorted(names)}")
    return [pair for pair in (("x_train", "y_train"), ("x_test", "y_test"))
            if pair[0] in names and pair[1] in names]


def _image_scale(images: np.ndarray) -> float:
    """What to divide images by for [0, 1]: 255 for bytes, or values above 1."""
    return 255.0 if images.dtype == np.uint8 or images.max() > 1.0 else 1.0


def _coded(text: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Text labels as 0..k-1 in sorted order, and the text of each (a table's target, an
    archive's y)."""
    names, labels = np.unique(text.astype(str), return_inverse=True)
    return labels.astype(np.int64), tuple(str(name) for name in names)


REGRESSION = "regression"  # dataset.task: a real-valued target (classification: labels)


def _regression_targets(y: np.ndarray, what: str) -> np.ndarray:
    """A regression's targets as float64: numbers, every one finite."""
    if y.dtype.kind not in "iuf" or y.dtype.kind == "b":
        raise DataError(f"{what}: dataset.task regression needs numbers, got {y.dtype} "
                        f"values such as {y.ravel()[:3].tolist()}")
    targets = y.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(targets))
    if bad.size:
        raise DataError(f"{what}: NaN or infinite targets in {bad.size} row(s), the first "
                        f"{bad[:5].tolist()}: fill or drop them first")
    return targets


def _labels(y: np.ndarray, what: str, task: str = "classification"
            ) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """(labels 0, 1, ..., their names) of a label array: integers (or floats that are whole
    numbers) as they are; text as 0..k-1 in sorted order, named. A regression's targets:
    float64, unnamed."""
    if task == REGRESSION:
        return _regression_targets(y, what), None
    if y.dtype.kind in "US":
        return _coded(y)
    if y.dtype.kind not in "iuf" or (y.dtype.kind == "f" and not (
            np.isfinite(y).all() and (y == np.round(y)).all())):
        raise DataError(f"{what}: labels must be integers 0, 1, 2, ... (or text), got "
                        f"{y.dtype} values such as {y.ravel()[:3].tolist()}: for "
                        f"real-valued targets set dataset.task: regression")
    if y.size and y.min() < 0:
        raise DataError(f"{what}: negative labels; classes are labels 0, 1, 2, ...")
    return y.astype(np.int64), None


def _load_xy(path: Path, x: np.ndarray, y: np.ndarray, task: str) -> Dataset:
    """X and y: X of shape (examples, features) is a table (standardised like one, its
    columns x0, x1, ...); (examples, height, width[, channels]), images."""
    where = f"dataset.path {path}"
    if x.ndim < 2 or y.ndim != 1 or len(x) != len(y):
        raise DataError(f"{where}: X must be (examples, features) or images (examples, "
                        f"height, width), and y (examples,), got X {x.shape}, y {y.shape}")
    if x.dtype.kind not in "iuf":
        raise DataError(f"{where}: X holds {x.dtype} values; the features must be numbers")
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1) if x.dtype.kind == "f" else None
    if bad is not None and bad.any():
        rows = np.flatnonzero(bad)
        raise DataError(f"{where}: X has NaN or infinite values in {len(rows)} row(s), the "
                        f"first {rows[:5].tolist()}: fill or drop them first")
    labels, names = _labels(y, f"{where}: y", task)
    if x.ndim == 2:
        features = tuple(f"x{column}" for column in range(x.shape[1]))
        return Dataset(x.astype(np.float64), labels, 1.0, f"npz:{path.name}", features, names)
    return Dataset(x, labels, _image_scale(x), f"npz:{path.name}", None, names)


def load_npz(path: Path, task: str = "classification") -> Dataset:
    """An archive of X and y; or Keras-style x_train, y_train and optionally x_test, y_test
    (images and their class labels)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except Exception as error:  # zipfile and numpy raise many kinds for a bad archive
        raise DataError(f"dataset.path {path}: not a readable .npz archive ({error})") from error
    pairs = npz_pairs(path, arrays)
    if pairs == [XY]:
        return _load_xy(path, arrays["X"], arrays["y"], task)
    images, labels = [], []
    for x_name, y_name in pairs:
        check_pair(arrays[x_name].shape, arrays[y_name].shape, f"dataset.path {path}")
        images.append(arrays[x_name])
        labels.append(arrays[y_name])
    images, labels = np.concatenate(images), np.concatenate(labels).astype(np.int64)
    return Dataset(images, labels, _image_scale(images), f"npz:{path.name}")


def npz_member_shape(archive, name: str) -> tuple[int, ...]:
    """The shape in an archive member's .npy header, without reading the array (indexing the
    archive would read it in full)."""
    member = f"{name}.npy" if f"{name}.npy" in archive.zip.namelist() else name
    with archive.zip.open(member) as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(handle)[0]
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(handle)[0]
    return archive[name].shape  # format 3.0 (utf-8 field names) has no public header reader


def read_table(path: Path, target: str | None, task: str = "classification"
               ) -> tuple[np.ndarray, np.ndarray, list[str], tuple[str, ...] | None]:
    """(features, labels, feature names, label names) of a CSV or Parquet table: every column
    but `target` a numeric feature, none with a missing value. Integer targets are the labels
    as they are; others (text) become 0..k-1 in sorted order, named by label names. A
    regression's target: its numbers, as float64."""
    import pandas as pd

    try:
        frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    except Exception as error:  # pandas and pyarrow raise many kinds for a bad file
        raise DataError(f"dataset.path {path}: not a readable {path.suffix[1:]} table "
                        f"({type(error).__name__}: {error})") from error
    columns = [str(column) for column in frame.columns]
    frame.columns = columns
    if target is None:
        raise DataError(f"dataset.target: required with a table (dataset.path {path}): the "
                        f"column to predict, one of {', '.join(columns)}")
    if target not in columns:
        raise DataError(f"dataset.target: {target!r} is not a column of {path}; its columns: "
                        f"{', '.join(columns)}")
    features = [column for column in columns if column != target]
    text = [column for column in features if not pd.api.types.is_numeric_dtype(frame[column])
            or pd.api.types.is_bool_dtype(frame[column])]
    if not features or text:
        raise DataError(f"dataset.path {path}: the features must be numbers; "
                        + (f"non-numeric column(s): {', '.join(text)} (encode them as numbers "
                           f"first, e.g. one column per category)" if text
                           else f"it has no column besides the target {target!r}"))
    missing = {column: int(frame[column].isna().sum()) for column in columns
               if frame[column].isna().any()}
    if missing:
        raise DataError(f"dataset.path {path}: missing values in "
                        + ", ".join(f"{column} ({count} rows)" for column, count in missing.items())
                        + ": fill or drop them first")
    values = frame[target]
    if task == REGRESSION:
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            raise DataError(f"dataset.target: {target!r} holds {values.dtype} values such as "
                            f"{values.head(3).tolist()}; dataset.task regression needs numbers")
        return (frame[features].to_numpy(np.float64),
                _regression_targets(values.to_numpy(), f"dataset.target {target!r}"),
                features, None)
    if pd.api.types.is_integer_dtype(values) and not pd.api.types.is_bool_dtype(values):
        labels, names = values.to_numpy(np.int64), None
    else:
        labels, names = _coded(values.astype(str).to_numpy())
    if labels.min() < 0:
        raise DataError(f"dataset.target: {target!r} holds negative labels; classes are "
                        f"labels 0, 1, 2, ...")
    return frame[features].to_numpy(np.float64), labels.astype(np.int64), features, names


def load_table(path: Path, target: str | None, task: str = "classification") -> Dataset:
    x, labels, features, names = read_table(path, target, task)
    return Dataset(x, labels, 1.0, f"table:{path.name}", tuple(features), names)

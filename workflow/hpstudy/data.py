"""Data prep: load a dataset, normalise it, fix the hold-out test set and the k-fold split.

Written once by the prepare_data job under results/data/:
- x.npy: float32 images in [0, 1], shape (n, height, width); a table's features, shape
  (n, columns), each standardised by the mean and deviation of the cross-validation rows;
- y.npy: int64 labels (a regression's targets: float64, as given);
- folds.npy: int8 per example: -1 = held-out test set, 0..k-1 = its cross-validation fold;
- dataset.json: source, task, shapes, classes (and the original labels they stand for; a
  regression's target mean and deviation instead) and sha256 checksums of the three arrays.

dataset.task regression (a table's or an X/y archive's real-valued target): a seeded random
subset and hold-out, plain shuffled k-fold, where classification stratifies all three.

The file formats (IDX, .npz, CSV and Parquet tables) are read by hpstudy.formats.
`check_source` is the cheap look the Snakefile takes at the data (hpstudy.preflight); the
loaders still check everything (a table is read whole by both).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpstudy.formats import (
    REGRESSION,
    TABLE_SUFFIXES,
    DataError,
    Dataset,
    check_pair,
    idx_splits,
    load_idx_dir,
    load_npz,
    load_table,
    npz_member_shape,
    npz_pairs,
    pair_name,
    read_idx,
    read_idx_shape,
)

TEST_FOLD = -1

# The labels of the datasets the workflow knows by name (all three are 10-class sets), so that
# dataset.classes can be checked against them before anything is downloaded or loaded.
NAMED_DATASET_LABELS = {"digits": tuple(range(10)), "mnist": tuple(range(10)),
                        "fashion_mnist": tuple(range(10))}
NAMED_IMAGE_SHAPES = {"digits": (8, 8), "mnist": (28, 28), "fashion_mnist": (28, 28)}
# Examples per label of scikit-learn's bundled digits (fixed data; tests/test_data_checks.py
# checks it against the real set), for the size checks before any job without importing
# scikit-learn.
DIGITS_LABEL_COUNTS = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)


@dataclass(frozen=True)
class SourceFacts:
    """What a look at the data before any job tells: the images' shape (height, width) and
    how many examples each label has (None where that is not cheap: a Keras download; a
    regression's examples all count as label 0)."""

    image_shape: tuple[int, ...]
    label_counts: dict[int, int] | None

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


def _source_kind(path: str) -> str:
    """'idx' for a directory, 'npz' for a .npz file, 'table' for a .csv or .parquet file;
    anything else is an error."""
    source = Path(path)
    if source.is_dir():
        return "idx"
    if source.is_file() and source.suffix in (".npz", *TABLE_SUFFIXES):
        return "table" if source.suffix in TABLE_SUFFIXES else "npz"
    if source.exists():
        raise DataError(f"dataset.path {path}: expected a directory of IDX files, a .npz, or a "
                        f"table ({', '.join(TABLE_SUFFIXES)})")
    raise DataError(f"dataset.path {path}: no such file or directory")


def task_of(dataset_config: Mapping) -> str:
    """dataset.task: classification unless the config says regression (the key is left out
    of a resolved config that does not give it, so that the studies written before it
    existed keep their hashes)."""
    return dataset_config.get("task") or "classification"


def load(name: str, path: str | None, target: str | None = None,
         task: str = "classification") -> Dataset:
    if path is not None:
        kind = _source_kind(path)
        if kind == "table":
            return load_table(Path(path), target, task)
        if kind == "idx":
            return load_idx_dir(Path(path))
        return load_npz(Path(path), task)
    if name == "digits":
        return load_digits()
    return load_keras(name)


def classes_problem(classes: Sequence[int], present, where: str) -> str | None:
    """What is wrong with a dataset.classes list given the labels `where` holds, or None."""
    classes = list(classes)
    present = sorted(int(label) for label in present)
    if len(classes) < 2:
        return f"dataset.classes: needs at least 2 labels, got {classes}"
    repeated = sorted({label for label in classes if classes.count(label) > 1})
    if repeated:
        return f"dataset.classes: label(s) {repeated} given more than once in {classes}"
    unknown = [label for label in classes if label not in present]
    if unknown:
        return (f"dataset.classes: label(s) {unknown} not in {where}; labels present: "
                f"{', '.join(map(str, present))}")
    return None


def check_classes(classes: Sequence[int], present, where: str) -> None:
    problem = classes_problem(classes, present, where)
    if problem:
        raise DataError(problem)


def select_classes(dataset: Dataset, classes: Sequence[int]) -> Dataset:
    """Keep only the examples of these labels, relabelled 0..n-1 in the order given (so
    classes [3, 1] makes 3 class 0 and 1 class 1)."""
    check_classes(classes, np.unique(dataset.labels), dataset.source)
    keep = np.isin(dataset.labels, classes)
    kept_labels = dataset.labels[keep]
    relabelled = np.empty(len(kept_labels), dtype=np.int64)
    for index, label in enumerate(classes):
        relabelled[kept_labels == label] = index
    names = dataset.label_names
    return Dataset(dataset.images[keep], relabelled, dataset.scale, dataset.source,
                   dataset.features, names and tuple(names[label] for label in classes))


def _counts(labels: np.ndarray) -> dict[int, int]:
    values, counts = np.unique(labels, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts, strict=True)}


def _holds_xy(path: Path) -> bool:
    """Whether a .npz holds X and y; DataError when it cannot be read."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {"X", "y"} <= set(archive.files)
    except Exception as error:  # zipfile and numpy raise many kinds for a bad archive
        raise DataError(f"dataset.path {path}: not a readable .npz archive ({error})") \
            from error


def check_source(dataset_config: Mapping) -> SourceFacts:
    """A cheap look at the data before any job runs; raises DataError naming the file or
    setting, else returns what it saw. The Snakefile calls it on every parse (dry runs too),
    so it reads headers and label files only: the path exists and is an IDX directory or a
    .npz; each IDX header is valid and agrees with its file's size; images and labels pair
    up; a .npz holds x_train and y_train, or X and y; dataset.classes are labels the data
    has. Tables and X/y archives are read whole (their types and missing values are what can
    go wrong). The bundled digits and Keras' downloads have no file to look at (their labels
    are known)."""
    path, classes = dataset_config.get("path"), dataset_config.get("classes")
    if path is None:
        name = dataset_config["name"]
        if classes is not None:
            check_classes(classes, NAMED_DATASET_LABELS[name], name)
        counts = dict(enumerate(DIGITS_LABEL_COUNTS)) if name == "digits" else None
        return SourceFacts(NAMED_IMAGE_SHAPES[name], counts)
    kind = _source_kind(path)
    xy = kind == "npz" and _holds_xy(Path(path))
    if dataset_config["name"] == "arrays" and not xy:
        raise DataError(f"dataset.path {path}: dataset.name arrays reads arrays X and y, "
                        f"which this archive does not hold (x_train and y_train: name it "
                        f"mnist or fashion_mnist)")
    task = task_of(dataset_config)
    if kind == "table" or xy:
        dataset = (load_table(Path(path), dataset_config.get("target"), task)
                   if kind == "table" else load_npz(Path(path), task))
        if classes is not None:
            check_classes(classes, np.unique(dataset.labels), f"dataset.path {path}")
        counts = ({0: len(dataset.labels)} if task == REGRESSION else _counts(dataset.labels))
        return SourceFacts(tuple(int(side) for side in dataset.images.shape[1:]), counts)
    if kind == "idx":
        splits = idx_splits(Path(path))
        shapes = []
        for image_file, label_file in splits:
            shapes.append(read_idx_shape(image_file))
            check_pair(shapes[-1], read_idx_shape(label_file),
                        pair_name(Path(path), image_file, label_file))
        labels = np.concatenate([read_idx(label_file) for _, label_file in splits])
    else:
        try:
            with np.load(Path(path), allow_pickle=False) as archive:
                pairs = npz_pairs(Path(path), archive.files)
                shapes = [npz_member_shape(archive, x_name) for x_name, _ in pairs]
                for (_, y_name), shape in zip(pairs, shapes, strict=True):
                    check_pair(shape, npz_member_shape(archive, y_name), f"dataset.path {path}")
                labels = np.concatenate([archive[y_name] for _, y_name in pairs])
        except DataError:
            raise
        except Exception as error:  # zipfile and numpy raise many kinds for a bad archive
            raise DataError(f"dataset.path {path}: not a readable .npz archive ({error})") \
                from error
    if classes is not None:
        check_classes(classes, np.unique(labels), f"dataset.path {path}")
    return SourceFacts(tuple(int(side) for side in shapes[0][1:]), _counts(labels))


def stratified_subset(labels: np.ndarray, size: int, seed: int,
                      stratified: bool = True) -> np.ndarray:
    """A seeded subset of `size` examples, with each class's share kept (`stratified`: a
    classification's labels) or not (a regression's targets)."""
    from sklearn.model_selection import train_test_split

    if size >= len(labels):
        return np.arange(len(labels))
    keep, _ = train_test_split(np.arange(len(labels)), train_size=size,
                               stratify=labels if stratified else None, random_state=seed)
    return np.sort(keep)


def assign_folds(labels: np.ndarray, folds: int, test_fraction: float, seed: int,
                 stratified: bool = True) -> np.ndarray:
    """Per example: -1 for the held-out test set, else its CV fold: stratified by label for
    a classification, plain shuffled k-fold for a regression's targets."""
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    index = np.arange(len(labels))
    train, test = train_test_split(index, test_size=test_fraction,
                                   stratify=labels if stratified else None, random_state=seed)
    train = np.sort(train)
    assignment = np.full(len(labels), TEST_FOLD, dtype=np.int8)
    splitter = (StratifiedKFold if stratified else KFold)(n_splits=folds, shuffle=True,
                                                           random_state=seed)
    for fold, (_, held_out) in enumerate(splitter.split(train, labels[train])):
        assignment[train[held_out]] = fold
    return assignment


def split_problem(counts: Sequence[int], cv_config: Mapping,
                  task: str = "classification") -> str | None:
    """What stops the hold-out and the folds for these examples per class (a regression's:
    one count, all its examples), or None."""
    counts = np.asarray(counts)
    counts = counts[counts > 0]
    smallest, total = int(counts.min()), int(counts.sum())
    needed = cv_config["folds"] + 1
    if task == REGRESSION:
        n_test = int(np.ceil(cv_config["test_fraction"] * total))
        if total - n_test < cv_config["folds"] or n_test < 1:
            return (f"dataset: {total} examples give a test set of {n_test} and "
                    f"{total - n_test} for cross-validation; {cv_config['folds']} folds need "
                    f"at least one example each (raise dataset.limit or lower cv.folds)")
        return None
    if smallest < needed:
        return (f"dataset: the rarest class has {smallest} examples; {cv_config['folds']} "
                f"folds plus a test set need at least {needed} per class "
                f"(raise dataset.limit or lower cv.folds)")
    # A stratified hold-out needs one example of every class on each side (sklearn's rule:
    # the test set takes ceil(fraction * n)).
    n_test = int(np.ceil(cv_config["test_fraction"] * total))
    if min(n_test, total - n_test) < len(counts):
        return (f"dataset: cv.test_fraction {cv_config['test_fraction']} of {total} "
                f"examples gives a test set of {n_test} and {total - n_test} for "
                f"cross-validation; each needs at least one per class ({len(counts)}) "
                f"(raise dataset.limit or change cv.test_fraction)")
    return None


def sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def prepare(dataset_config: dict, cv_config: dict):
    """Load, subset, normalise and split. Returns (x, y, folds, metadata)."""
    task = task_of(dataset_config)
    regression = task == REGRESSION
    dataset = load(dataset_config["name"], dataset_config["path"], dataset_config.get("target"),
                   task)
    selected = dataset_config.get("classes")
    if selected is not None:
        dataset = select_classes(dataset, selected)
    seed = dataset_config["split_seed"]
    labels = dataset.labels
    classes = np.unique(labels)
    if len(classes) < 2:
        what = "distinct targets" if regression else "classes"
        raise DataError(f"dataset {dataset.source}: needs at least 2 {what}, got {len(classes)}")
    keep = np.arange(len(labels))
    if dataset_config["limit"] is not None:
        keep = stratified_subset(labels, dataset_config["limit"], seed, not regression)
    y = labels[keep]
    problem = split_problem([len(y)] if regression else np.bincount(y), cv_config, task)
    if problem:
        raise DataError(problem)
    folds = assign_folds(y, cv_config["folds"], cv_config["test_fraction"], seed,
                         not regression)
    if dataset.features is None:
        x = (dataset.images[keep].astype(np.float32) / np.float32(dataset.scale))
        normalisation = f"pixels / {dataset.scale:g} -> [0, 1], float32"
    else:
        x = standardise(dataset.images[keep], folds != TEST_FOLD)
        normalisation = ("each column - mean / deviation of the cross-validation rows "
                         "(the held-out test's unseen), float32")
    metadata = {
        "source": dataset.source,
        "name": dataset_config["name"],
        "examples": int(len(y)),
        "image_shape": list(x.shape[1:]),
    }
    if regression:
        # Said as found: the targets are not standardised (a network's harness scales them
        # per fold, hpstudy.objectives.keras_classifier; a user's function gets them as is).
        metadata.update(task=task, target_mean=float(y.mean()), target_std=float(y.std()))
    else:
        metadata.update(
            classes=[int(c) for c in np.unique(y)],
            # The dataset's own label of each class (dataset.classes remaps them to 0..n-1).
            original_labels=([int(c) for c in selected] if selected is not None
                             else [int(c) for c in np.unique(y)]))
    metadata.update({
        "folds": cv_config["folds"],
        "test_examples": int((folds == TEST_FOLD).sum()),
        "fold_sizes": [int((folds == k).sum()) for k in range(cv_config["folds"])],
        "normalisation": normalisation,
        "split_seed": seed,
        "sha256": {"x": sha256(x), "y": sha256(y), "folds": sha256(folds)},
    })
    if dataset.features is not None:
        metadata.update(features=list(dataset.features), target=dataset_config["target"])
    if dataset.label_names is not None:
        metadata["original_labels"] = list(dataset.label_names)
    return x, y, folds, metadata


def standardise(features: np.ndarray, fitted_on: np.ndarray) -> np.ndarray:
    """Each column minus its mean, over its deviation, both of the rows `fitted_on` (a
    constant column: minus its mean only), as float32."""
    mean = features[fitted_on].mean(axis=0)
    deviation = features[fitted_on].std(axis=0)
    deviation[deviation == 0] = 1.0
    return ((features - mean) / deviation).astype(np.float32)


@dataclass(frozen=True)
class FoldData:
    """The arrays one (trial, fold) job trains and validates on. `classes`: how many (labels
    0..classes-1), or None for a regression's real-valued targets."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    classes: int | None


def _classes(y: np.ndarray) -> int | None:
    """prepare writes class labels as int64 and a regression's targets as float64."""
    return None if y.dtype.kind == "f" else int(y.max()) + 1


def load_fold(x_path, y_path, folds_path, fold: int) -> FoldData:
    x = np.load(x_path, mmap_mode="r")
    y = np.load(y_path)
    assignment = np.load(folds_path)
    train = (assignment != TEST_FOLD) & (assignment != fold)
    val = assignment == fold
    return FoldData(np.asarray(x[train]), y[train], np.asarray(x[val]), y[val], _classes(y))


def load_train_test(x_path, y_path, folds_path) -> FoldData:
    """Every CV example for training, the held-out test set for scoring."""
    x = np.load(x_path, mmap_mode="r")
    y = np.load(y_path)
    assignment = np.load(folds_path)
    train, test = assignment != TEST_FOLD, assignment == TEST_FOLD
    return FoldData(np.asarray(x[train]), y[train], np.asarray(x[test]), y[test], _classes(y))

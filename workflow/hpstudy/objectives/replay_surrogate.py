"""The replay objective's surrogate (hpstudy.objectives.replay): a finished study's trials.csv
read back, a Gaussian process fitted on its ok trials, and the pooled fold-to-fold spread.

Everything here is a pure function of the file's bytes and the settings (cached per process),
so every job of a replay study sees the same surrogate. The jobs do not know the config's
space, so the surrogate's input encoding comes from the source alone: each numeric parameter
on the scale (linear, log, log of 1 - x) on which the source's points are most evenly spread
(the raw scales a space has: uniform, loguniform, loguniform with `complement`), or as
`scales` sets it; other columns one-hot. Its min..max in the source becomes 0..1.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpstudy.objectives.keras_classifier import ERROR_FLOOR

SCALES = ("linear", "log", "log_complement", "choice")
# trials.csv's columns after the params that are not params (hpstudy.records.trials_table).
_AFTER_PARAMS = ("fidelity", "bracket", "rung", "epoch", "objective")


class SourceError(ValueError):
    """The source file cannot be replayed; the message names the setting."""


@dataclass(frozen=True)
class Source:
    names: tuple[str, ...]  # its parameters, in its column order
    columns: dict[str, Any]  # name -> every row's values (the encoding's box)
    points: list[dict[str, Any]]  # the ok trials' params (at the highest fidelity)
    objective: np.ndarray  # their objective
    folds: np.ndarray  # their per-fold objectives (trials x folds), in objective units
    rows: int
    epochs: tuple[int, ...] = ()  # a learning-curve source's epochs (replay_curves); else ()


def read_source(path: str, fold_metric: str, fold_scale: str,
                epoch: int | None = None) -> Source:
    """The source's ok trials; of a learning-curve source (an `epoch` column:
    hpstudy.objectives.replay_curves), their rows at `epoch`."""
    import pandas as pd

    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise SourceError(f"objective.replay.trials: cannot read {path!r} "
                          f"({type(error).__name__}: {error})") from error
    missing = [c for c in ("trial", "round", "objective", "status") if c not in table.columns]
    if missing:
        raise SourceError(f"objective.replay.trials: {path!r} is not a study's trials.csv "
                          f"(no column {', '.join(missing)})")
    columns = list(table.columns)
    end = min(columns.index(c) for c in _AFTER_PARAMS if c in columns)
    names = tuple(columns[columns.index("round") + 1:end])
    pattern = re.compile(rf"^fold_(\d+)_{re.escape(fold_metric)}$")
    fold_columns = sorted((c for c in columns if pattern.match(c)),
                          key=lambda c: int(pattern.match(c).group(1)))
    if not fold_columns:
        found = sorted(c for c in columns if c.startswith("fold_"))
        raise SourceError(f"objective.replay.fold_metric: no fold_<k>_{fold_metric} columns "
                          f"in {path!r}; its fold columns: {', '.join(found) or 'none'}")
    epochs: tuple[int, ...] = ()
    if "epoch" in columns:
        epochs = tuple(sorted(int(e) for e in table["epoch"].unique()))
        if epoch is None:
            raise SourceError(f"objective.replay.epochs: required: {path!r} holds learning "
                              f"curves (epochs {epochs[0]}..{epochs[-1]}); the epoch to replay")
        if epoch not in epochs:
            raise SourceError(f"objective.replay.epochs: {epoch}; {path!r} holds epochs "
                              f"{epochs[0]}..{epochs[-1]}")
        table = table[table["epoch"] == epoch]
    elif epoch is not None:
        raise SourceError(f"objective.replay.epochs: {epoch}, but {path!r} has no epoch "
                          f"column (a learning-curve source: hpstudy.objectives.replay_curves)")
    ok = table[(table["status"] == "ok") & np.isfinite(table["objective"].astype(float))]
    if "fidelity" in columns:  # a multi-fidelity study: its full-fidelity trials only
        ok = ok[ok["fidelity"] == table["fidelity"].max()]
    folds = ok[fold_columns].to_numpy(dtype=float)
    if fold_scale == "log10_error":
        if np.nanmin(folds, initial=0.0) < 0 or np.nanmax(folds, initial=0.0) > 1:
            raise SourceError(f"objective.replay.fold_scale: log10_error reads the fold "
                              f"columns as accuracies in [0, 1], but {path!r} holds "
                              f"{np.nanmin(folds):.4g} to {np.nanmax(folds):.4g}; use identity")
        folds = np.log10(np.maximum(1.0 - folds, ERROR_FLOOR))
    # Column by column: a row would make an int column's values floats beside a float one.
    ok_columns = {n: [_plain(v) for v in ok[n]] for n in names}
    points = [{n: ok_columns[n][i] for n in names} for i in range(len(ok))]
    return Source(names, {n: [_plain(v) for v in table[n]] for n in names}, points,
                  ok["objective"].to_numpy(dtype=float), folds, len(table), epochs)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
               for v in values)


def _transform(scale: str, values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return {"linear": values, "log": np.log(np.maximum(values, 1e-300)),
            "log_complement": np.log(np.maximum(1.0 - values, 1e-300))}[scale]


def scale_problem(scale: str, values: Sequence[Any]) -> str | None:
    """Why `values` cannot take `scale` (None: they can)."""
    if scale == "choice":
        return None
    if not _numeric(values):
        return "the source's values are not all finite numbers"
    if scale == "log" and min(values) <= 0:
        return f"log needs values > 0; the source's go down to {min(values)!r}"
    if scale == "log_complement" and max(values) >= 1:
        return f"log_complement needs values < 1; the source's go up to {max(values)!r}"
    return None


def infer_scale(values: Sequence[Any]) -> str:
    """The scale on which the values are most evenly spread (Kolmogorov-Smirnov distance of
    their min..max-scaled transform to the uniform); ties go to the earlier of linear, log,
    log_complement. Not numeric: choice."""
    from scipy.stats import kstest

    if not _numeric(values):
        return "choice"
    best, best_distance = "linear", math.inf
    for scale in SCALES[:3]:
        if scale_problem(scale, values):
            continue
        t = _transform(scale, values)
        span = t.max() - t.min()
        distance = kstest((t - t.min()) / span, "uniform").statistic if span > 0 else 0.0
        if distance < best_distance - 1e-12:
            best, best_distance = scale, distance
    return best


@dataclass(frozen=True)
class Encoding:
    """Params -> the unit cube, per parameter: (name, scale, (low, high) or levels)."""

    parts: tuple[tuple[str, str, tuple], ...]

    @classmethod
    def of(cls, source: Source, scales: Mapping[str, str]) -> Encoding:
        parts = []
        for name in source.names:
            values = source.columns[name]
            scale = scales.get(name) or infer_scale(values)
            if scale == "choice":
                parts.append((name, scale, tuple(sorted({str(v) for v in values}))))
            else:
                t = _transform(scale, values)
                parts.append((name, scale, (float(t.min()), float(t.max()))))
        return cls(tuple(parts))

    @property
    def scales(self) -> dict[str, str]:
        return {name: scale for name, scale, _ in self.parts}

    def __call__(self, points: Sequence[Mapping[str, Any]]) -> np.ndarray:
        columns = []
        for name, scale, box in self.parts:
            values = [point[name] for point in points]
            if scale == "choice":
                columns += [[float(str(v) == level) for v in values] for level in box]
                continue
            low, high = box
            t = _transform(scale, [float(v) for v in values])
            columns.append((t - low) / (high - low) if high > low else np.zeros(len(t)))
        return np.asarray(columns, dtype=float).T.reshape(len(points), -1)


def pooled_fold_std(folds: np.ndarray) -> float:
    """The pooled within-trial standard deviation of the per-fold objectives: the squared
    deviations from each trial's mean, summed over trials, over sum(folds - 1)."""
    finite = np.isfinite(folds)
    counts = finite.sum(axis=1)
    rows = counts >= 2
    if not rows.any():
        return 0.0
    values = np.where(finite, folds, 0.0)[rows]
    means = values.sum(axis=1) / counts[rows]
    squares = np.where(finite[rows], (values - means[:, None]) ** 2, 0.0).sum()
    return float(math.sqrt(squares / (counts[rows] - 1).sum()))


def fit_gp(x: np.ndarray, y: np.ndarray, seed: int):
    """ConstantKernel * Matern(5/2, a length scale per input) + WhiteKernel, normalize_y,
    five seeded restarts; single-threaded, so the same data give the same fit."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
    from threadpoolctl import threadpool_limits

    kernel = (ConstantKernel(1.0, (1e-3, 1e3))
              * Matern(np.full(x.shape[1], 0.3), (1e-2, 1e2), nu=2.5)
              + WhiteKernel(1e-2, (1e-8, 1.0)))
    gp = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=5,
                                  random_state=seed)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gp.fit(x, y)


@dataclass(frozen=True)
class Surrogate:
    source: Source
    encoding: Encoding
    gp: Any
    fold_std: float  # the pooled fold-to-fold standard deviation (0 with noise: none)

    def mean(self, points: Sequence[Mapping[str, Any]]) -> np.ndarray:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            return self.gp.predict(self.encoding(points))


def file_digest(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def surrogate(settings: Mapping[str, Any]) -> Surrogate:
    """The fitted surrogate of these settings (objective.replay), cached per process by the
    file's path, its sha256 and the settings."""
    path = str(Path(settings["trials"]).resolve())
    keys = ("fold_metric", "fold_scale", "seed", "noise", "scales", "epochs")
    key = json.dumps({k: settings.get(k) for k in keys}, sort_keys=True)
    return _fitted(path, file_digest(path), key)


@functools.cache
def _fitted(path: str, digest: str, key: str) -> Surrogate:
    settings = json.loads(key)
    source = read_source(path, settings["fold_metric"], settings["fold_scale"],
                         settings.get("epochs"))
    if len(source.objective) < 2:
        raise SourceError(f"objective.replay.trials: {len(source.objective)} ok trial(s) "
                          f"in {path!r}; nothing to fit")
    encoding = Encoding.of(source, settings.get("scales") or {})
    gp = fit_gp(encoding(source.points), source.objective, settings["seed"])
    noise = pooled_fold_std(source.folds) if settings.get("noise", "folds") == "folds" else 0.0
    return Surrogate(source, encoding, gp, noise)


def holdout(surrogate: Surrogate, folds: int, seed: int) -> dict[str, float]:
    """K-fold over the source's ok trials (seeded shuffle): refit on the rest, predict the
    held-out; Spearman's rho, RMSE and MAE of those predictions against their objective."""
    from scipy.stats import spearmanr
    from threadpoolctl import threadpool_limits

    x, y = surrogate.encoding(surrogate.source.points), surrogate.source.objective
    order = np.random.default_rng(seed).permutation(len(y))
    predicted = np.empty(len(y))
    for held in np.array_split(order, min(folds, len(y))):
        rest = np.setdiff1d(order, held)
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a fit on few points may warn; the numbers tell
            predicted[held] = fit_gp(x[rest], y[rest], seed).predict(x[held])
    errors = predicted - y
    return {"trials": len(y), "spearman": float(spearmanr(predicted, y).statistic),
            "rmse": float(np.sqrt(np.mean(errors**2))), "mae": float(np.mean(np.abs(errors)))}

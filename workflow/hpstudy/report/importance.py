"""Which parameters mattered: permutation importance of a random-forest surrogate fitted on
every result of every strategy (parameters on their axis scale -> objective).

A surrogate, not the objective itself: the forest learns objective ~ parameters from the
trials run, then each parameter's column is shuffled in turn and the drop in the forest's R²
is that parameter's importance. It is only as good as the forest's fit, so the table carries
the forest's cross-validated R² (near 0 or below: the importances explain nothing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.inspection import permutation_importance
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_predict

from hpstudy.report.axes import ParamAxis
from hpstudy.report.tables import result_mask

MIN_TRIALS = 8  # fewer results: a forest's ranking of them is noise
N_TREES = 200
N_REPEATS = 10  # shuffles per parameter
N_FOLDS = 5
# More results than this: a seeded sample of them. The forest's fits and the shuffles grow
# with the results (a benchmark of the suite pools 3,500: 15 of its report's 46 CPU s); a
# ranking of a handful of parameters is as clear from 1,000.
MAX_TRIALS = 1000
DECIMALS = 6  # CSV digits: stable bytes, far below the shuffles' spread
IMPORTANCE_COLUMNS = ["parameter", "importance_mean", "importance_std", "share", "n_trials",
                      "surrogate_r2"]


class Importance(NamedTuple):
    """The importance table (None when it would be a meaningless number) and, then, why."""

    table: pd.DataFrame | None
    reason: str | None = None


def axis_values(param: ParamAxis, values) -> np.ndarray:
    """Parameter values on their axis scale: log10 of the plot coordinates on a log axis
    (for a complement parameter, log10(1 - value), the scale the sampler draws on); a
    choice's index. NaN where a value has no place on the axis."""
    coords = param.coords(values)
    if param.scale != "log":
        return coords
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(coords)
    return np.where(np.isfinite(logs), logs, np.nan)


def pooled_results(trials: Mapping[str, pd.DataFrame],
                   axes: Sequence[ParamAxis]) -> pd.DataFrame:
    """The results of every strategy in one frame: strategy, each parameter's value (as in
    trials.csv), objective. Results: ok trials and, of a multi-fidelity strategy, only those
    trained to its full fidelity (a 1-epoch objective is not on the same scale)."""
    names = [param.name for param in axes]
    frames = [table.loc[result_mask(table), names + ["objective"]].assign(strategy=strategy)
              for strategy, table in trials.items()]
    columns = ["strategy", *names, "objective"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def surrogate_data(trials: Mapping[str, pd.DataFrame],
                   axes: Sequence[ParamAxis]) -> tuple[np.ndarray, np.ndarray]:
    """(features[trial, parameter] on the axis scale, objective) of the pooled results; a
    result with a parameter off its axis (a non-positive value on a log axis, an unknown
    choice) is left out rather than imputed."""
    pooled = pooled_results(trials, axes)
    features = np.column_stack([axis_values(param, pooled[param.name]) for param in axes]) \
        if axes else np.empty((len(pooled), 0))
    objective = pooled["objective"].to_numpy(dtype=float)
    keep = np.isfinite(features).all(axis=1) & np.isfinite(objective)
    return features[keep], objective[keep]


def parameter_importance(trials: Mapping[str, pd.DataFrame], axes: Sequence[ParamAxis],
                         seed: int = 0, n_trees: int = N_TREES,
                         n_repeats: int = N_REPEATS, max_trials: int = MAX_TRIALS
                         ) -> Importance:
    """Permutation importance of each parameter for the objective, over all strategies'
    results: one row per parameter (IMPORTANCE_COLUMNS), most important first.

    importance_mean/std: the drop in the surrogate's R² (on the results it was fitted on)
    when the parameter's values are shuffled, over n_repeats shuffles. share: the importances
    clipped at 0, normalised to sum 1. surrogate_r2: R² of the forest's out-of-fold
    predictions (5-fold, shuffled with the seed), pooled over the folds: a fold of one or two
    trials has no R² of its own worth averaging. The same inputs and seed give the same table
    (one job, seeded forest, folds and shuffles).

    Returns Importance(None, reason) with one parameter (nothing to rank it against), fewer
    than MIN_TRIALS results, or an objective or parameters that do not vary.
    """
    if len(axes) < 2:
        return Importance(None, f"{len(axes)} parameter(s): nothing to rank against each other")
    features, objective = surrogate_data(trials, axes)
    if len(objective) < MIN_TRIALS:
        return Importance(None, f"{len(objective)} ok trial(s) with a full-fidelity objective; "
                                f"the importance needs at least {MIN_TRIALS}")
    if np.ptp(objective) == 0:
        return Importance(None, "the objective is the same in every trial")
    if len(objective) > max_trials:  # a seeded sample, in the results' order
        keep = np.sort(np.random.default_rng(seed).choice(len(objective), max_trials,
                                                          replace=False))
        features, objective = features[keep], objective[keep]
    forest = RandomForestRegressor(n_estimators=n_trees, random_state=seed, n_jobs=1)
    folds = KFold(n_splits=min(N_FOLDS, len(objective)), shuffle=True, random_state=seed)
    # Shuffled folds: trials.csv rows come strategy by strategy, and unshuffled folds would
    # ask the forest to predict one strategy's region from the others'.
    predicted = cross_val_predict(forest, features, objective, cv=folds)
    r2 = float(r2_score(objective, predicted))
    forest.fit(features, objective)
    result = permutation_importance(forest, features, objective, n_repeats=n_repeats,
                                    random_state=seed, n_jobs=1)
    means = np.asarray(result.importances_mean, dtype=float)
    positive = np.clip(means, 0.0, None)
    if positive.sum() <= 0:
        return Importance(None, "the surrogate's predictions depend on no parameter")
    table = pd.DataFrame({
        "parameter": [param.name for param in axes],
        "importance_mean": means.round(DECIMALS),
        "importance_std": np.asarray(result.importances_std, dtype=float).round(DECIMALS),
        "share": (positive / positive.sum()).round(DECIMALS),
        "n_trials": len(objective),
        "surrogate_r2": round(r2, DECIMALS),
    }, columns=IMPORTANCE_COLUMNS)
    # Stable: equal importances keep the space's order.
    return Importance(table.sort_values("importance_mean", ascending=False, kind="stable")
                      .reset_index(drop=True))

"""The figures across strategies: best-so-far by trial, by training time and by epochs
trained, CV against
held-out test, and the repeated studies' median best-so-far."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hpstudy.report.plotting import (
    BEST_LABEL,
    OBJECTIVE_LABEL,
    new_figure,
    strategy_colour,
    wide_positive,
)
from hpstudy.report.stats import nan_stats
from hpstudy.report.tables import (
    best_so_far,
    cumulative_resource,
    number,
    result_mask,
    trial_numbers,
)


def best_so_far_figure(trials: Mapping[str, pd.DataFrame], target: float | None = None,
                       margin: float | None = None) -> Figure:
    """Best-so-far against trial number, one line per strategy; the band [best, best+margin]
    shaded when target (the overall best) and margin are given."""
    return _across_figure(trials, target, margin, by_time=False)


def best_so_far_time_figure(trials: Mapping[str, pd.DataFrame], target: float | None = None,
                            margin: float | None = None) -> Figure:
    """Best-so-far against cumulative training CPU seconds, one line per strategy. CPU
    seconds, not wall: trials that shared the cores with others took longer on the clock,
    which would favour whichever strategy ran its trials with fewer neighbours."""
    return _across_figure(trials, target, margin, by_time=True)


def best_so_far_resource_figure(trials: Mapping[str, pd.DataFrame],
                                target: float | None = None,
                                margin: float | None = None) -> Figure | None:
    """Best-so-far against the epochs trained so far (summed over folds): the cost axis on
    which multi-fidelity strategies differ from the others. None without a fidelity."""
    if not any("resource" in table.columns for table in trials.values()):
        return None
    return _across_figure(trials, target, margin, by_time=False, by_resource=True)


def _across_figure(trials, target, margin, by_time: bool, by_resource: bool = False) -> Figure:
    figure = new_figure()
    axis = figure.add_subplot()
    order = list(trials)
    curves = []
    total = 0.0
    for strategy, table in trials.items():
        curve = best_so_far(table)
        curves.append(curve)
        if by_time:
            x = table["cpu_seconds"].fillna(0.0).cumsum().to_numpy(dtype=float)
            total = max(total, float(x[-1]) if len(x) else 0.0)
        elif by_resource:
            x = cumulative_resource(table)
            if x is None:
                continue
        else:
            x = trial_numbers(table)
        colour = strategy_colour(strategy, order)
        axis.plot(x, curve, drawstyle="steps-post", label=strategy, color=colour)
        if by_resource:  # each result marked: a multi-fidelity study may have only a few
            results = result_mask(table).to_numpy()
            axis.plot(x[results], curve.to_numpy()[results], "o", markersize=3, color=colour)
    values = pd.concat(curves) if curves else pd.Series(dtype=float)
    if wide_positive(values):
        axis.set_yscale("log")
    if target is not None and margin is not None and math.isfinite(target):
        axis.axhspan(target, target + margin, color="0.85", zorder=0,
                     label=f"within {margin:g} of the best")
    if by_time:
        axis.set_xlabel("cumulative training CPU seconds")
        if total == 0.0:
            axis.text(0.5, 0.5, "no training time recorded (CPU seconds = 0)",
                      transform=axis.transAxes, ha="center", color="0.4")
    elif by_resource:
        axis.set_xlabel("resource spent, summed over folds (epochs; a test function: budget "
                        "units)")
    else:
        axis.set_xlabel("trial number")
    axis.set_ylabel(BEST_LABEL)
    axis.set_title("Best objective so far, per strategy"
                   + (" (by training time)" if by_time else "")
                   + (" (by resource spent)" if by_resource else ""))
    axis.legend(loc="best")
    figure.tight_layout()
    return figure


def cv_vs_test_figure(test_results: Mapping[str, Mapping[str, Any]]) -> Figure | None:
    """Per strategy: the chosen trial's CV objective next to its held-out test objective."""
    rows = [(strategy, number(result.get("cv_objective")), number(result.get("test_objective")),
             number(result.get("test_accuracy")))
            for strategy, result in test_results.items() if result]
    rows = [row for row in rows if math.isfinite(row[1]) or math.isfinite(row[2])]
    if not rows:
        return None
    figure = new_figure()
    axis = figure.add_subplot()
    positions = np.arange(len(rows), dtype=float)
    cv = np.array([row[1] for row in rows])
    test = np.array([row[2] for row in rows])
    axis.vlines(positions, np.fmin(cv, test), np.fmax(cv, test), color="0.7", zorder=1)
    axis.scatter(positions, cv, marker="o", s=60, color="tab:blue", zorder=3,
                 label="cross-validation (best trial)")
    axis.scatter(positions, test, marker="s", s=60, color="tab:orange", zorder=3,
                 label="held-out test")
    for position, row in zip(positions, rows, strict=True):
        if math.isfinite(row[3]) and math.isfinite(row[2]):
            axis.annotate(f"acc {row[3]:.4f}", (position, row[2]), textcoords="offset points",
                          xytext=(8, -3), fontsize=8)
    axis.set_xticks(positions, [row[0] for row in rows])
    axis.set_xlim(-0.6, len(rows) - 0.4)
    axis.set_xlabel("strategy")
    axis.set_ylabel(OBJECTIVE_LABEL)
    axis.set_title("Cross-validation vs held-out test, best trial per strategy")
    axis.legend(loc="best")
    figure.tight_layout()
    return figure


def repeats_figure(curves: Mapping[str, np.ndarray]) -> Figure:
    """Median best-so-far across seeds with the interquartile band, one line per strategy."""
    figure = new_figure()
    axis = figure.add_subplot()
    order = list(curves)
    for strategy, curve in curves.items():
        numbers = np.arange(1, curve.shape[1] + 1)
        median, q25, q75 = nan_stats(curve, axis=0)
        colour = strategy_colour(strategy, order)
        axis.fill_between(numbers, q25, q75, step="post", color=colour, alpha=0.2, linewidth=0)
        axis.plot(numbers, median, drawstyle="steps-post", color=colour,
                  label=f"{strategy} ({curve.shape[0]} seeds)")
    if wide_positive(np.concatenate([c.ravel() for c in curves.values()]) if curves else []):
        axis.set_yscale("log")
    axis.set_xlabel("trial number")
    axis.set_ylabel("median best objective so far")
    axis.set_title("Repeated studies: median best-so-far, band = interquartile range")
    axis.legend(loc="best")
    figure.tight_layout()
    return figure

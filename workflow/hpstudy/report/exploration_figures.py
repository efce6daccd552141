"""The figures of what mattered, across strategies: the parameter importance bars, the
objective against each parameter (slices) and the objectives' empirical distribution (EDF).

All three draw results only (ok trials; of a multi-fidelity strategy, those trained to its
full fidelity): a diverged trial's objective is a penalty, a failed one has none.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hpstudy.report.axes import ParamAxis
from hpstudy.report.importance import pooled_results
from hpstudy.report.plotting import (
    OBJECTIVE_LABEL,
    new_figure,
    strategy_colour,
    wide_positive,
)
from hpstudy.report.tables import result_mask

SLICE_COLUMNS = 3  # panels per row of the slice figure


def importance_figure(table: pd.DataFrame | None) -> Figure | None:
    """Horizontal bars of each parameter's permutation importance (the table of
    importance.parameter_importance), most important on top, whiskers one standard deviation
    over the shuffles, each bar labelled with its share. None without a table."""
    if table is None or not len(table):
        return None
    figure = new_figure(7.0, 1.5 + 0.5 * len(table))
    axis = figure.add_subplot()
    positions = np.arange(len(table))[::-1]  # the first row (most important) on top
    means = table["importance_mean"].to_numpy(dtype=float)
    stds = table["importance_std"].to_numpy(dtype=float)
    axis.barh(positions, means, xerr=stds, color="tab:blue", ecolor="0.3", capsize=3)
    for position, end, share in zip(positions, np.fmax(means + stds, 0.0), table["share"],
                                    strict=True):  # right of the whisker, not on it
        axis.annotate(f"{100 * share:.0f} %", (end, position), textcoords="offset points",
                      xytext=(6, -3), fontsize=8)
    axis.margins(x=0.12)  # room for the rightmost label
    axis.set_yticks(positions, list(table["parameter"]))
    axis.axvline(0.0, color="0.5", linewidth=0.8)
    axis.set_xlabel("permutation importance (drop in the surrogate's R² when shuffled)")
    row = table.iloc[0]
    axis.set_title(f"Parameter importance ({int(row['n_trials'])} trials; "
                   f"surrogate's cross-validated R² {row['surrogate_r2']:.2f})")
    figure.tight_layout()
    return figure


def slices_figure(trials: Mapping[str, pd.DataFrame],
                  axes: Sequence[ParamAxis]) -> Figure | None:
    """One panel per parameter: the objective of every result against the parameter on its
    axis (log where the parameter is drawn log-uniformly; 1 - value for a complement
    parameter), one scatter per strategy in its colour. None without parameters or results.
    """
    pooled = pooled_results(trials, axes)
    if not axes or not len(pooled):
        return None
    columns = min(SLICE_COLUMNS, len(axes))
    rows = math.ceil(len(axes) / columns)
    figure = new_figure(max(7.0, 3.2 * columns + 1.5), 3.0 * rows + 1.0)
    panels = figure.subplots(rows, columns, sharey=True, squeeze=False).ravel()
    for spare in panels[len(axes):]:
        figure.delaxes(spare)  # one axes per parameter, none empty
    objective = pooled["objective"].to_numpy(dtype=float)
    order = list(trials)
    for panel, param in zip(panels, axes, strict=False):
        coords = param.coords(pooled[param.name])
        for strategy in order:
            mine = (pooled["strategy"] == strategy).to_numpy() & np.isfinite(coords)
            if mine.any():
                panel.scatter(coords[mine], objective[mine], s=16, alpha=0.75,
                              color=strategy_colour(strategy, order), label=strategy)
        param.style(panel, "x")  # not the space's limits: they would halve edge points
        if wide_positive(objective):
            panel.set_yscale("log")
    for panel in panels[:len(axes):columns]:
        panel.set_ylabel(OBJECTIVE_LABEL)
    handles, labels = panels[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="center right", fontsize=8)
    figure.suptitle("Objective against each parameter (ok trials; failed and diverged left out)")
    figure.tight_layout(rect=(0, 0, 0.88, 1))  # the legend on the right
    return figure


def objective_edf(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(objectives sorted, fraction of the results with an objective <= each), of a table's
    results; starting at (lowest, 0) so the first step is drawn, ending at 1."""
    values = np.sort(table.loc[result_mask(table), "objective"].to_numpy(dtype=float))
    if not len(values):
        return np.array([]), np.array([])
    fractions = np.arange(1, len(values) + 1) / len(values)
    return np.concatenate([values[:1], values]), np.concatenate([[0.0], fractions])


def objective_edf_figure(trials: Mapping[str, pd.DataFrame]) -> Figure | None:
    """The empirical distribution function of the results' objectives, one step curve per
    strategy: a curve to the left (and up) means more of its trials were good, not just its
    best. Every curve is carried on at 1 to the largest objective of any strategy. None
    without results."""
    curves = {strategy: objective_edf(table) for strategy, table in trials.items()}
    curves = {strategy: curve for strategy, curve in curves.items() if len(curve[0])}
    if not curves:
        return None
    right = max(float(x[-1]) for x, _ in curves.values())
    figure = new_figure()
    axis = figure.add_subplot()
    order = list(trials)
    for strategy, (x, y) in curves.items():
        axis.plot(np.append(x, right), np.append(y, 1.0), drawstyle="steps-post",
                  color=strategy_colour(strategy, order), label=f"{strategy} ({len(x) - 1})")
    if wide_positive(np.concatenate([x for x, _ in curves.values()])):
        axis.set_xscale("log")
    axis.set_ylim(-0.02, 1.02)
    axis.set_xlabel(OBJECTIVE_LABEL)
    axis.set_ylabel("fraction of trials with objective <= x")
    axis.set_title("Distribution of trial objectives per strategy (ok trials)")
    axis.legend(loc="lower right", title="strategy (trials)")
    figure.tight_layout()
    return figure

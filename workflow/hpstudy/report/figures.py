"""The per-strategy figures: objective per trial, best-so-far, hyperparameters per trial,
CV folds of the best trials and the explored space (over the grid's heatmap)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from hpstudy.report.axes import ParamAxis
from hpstudy.report.plotting import (
    BEST_LABEL,
    COLOURMAP,
    OBJECTIVE_LABEL,
    new_figure,
    objective_norm,
    strategy_colour,
    wide_positive,
)
from hpstudy.report.tables import best_so_far, fold_columns, ok_mask, trial_numbers

N_BLOCKS = 5  # per-parameter box plots: the trials cut into this many blocks (budget / 5)
N_BEST = 5  # CV box plots: this many best trials


def objective_figure(strategy: str, table: pd.DataFrame) -> Figure:
    """Objective per trial (ok: dots, diverged: crosses at their penalty, failed: grey lines)
    with a least-squares line over the ok trials."""
    figure = new_figure()
    axis = figure.add_subplot()
    numbers = trial_numbers(table)
    objective = table["objective"].to_numpy(dtype=float)
    ok = ok_mask(table).to_numpy()
    penalised = ~ok & np.isfinite(objective)
    axis.scatter(numbers[ok], objective[ok], color=strategy_colour(strategy, [strategy]),
                 label="ok", zorder=3)
    if penalised.any():
        axis.scatter(numbers[penalised], objective[penalised], marker="x", color="tab:red",
                     label="diverged (penalty)", zorder=3)
    for number in numbers[~np.isfinite(objective)]:
        axis.axvline(number, color="0.6", linestyle=":", linewidth=1)
    if ok.sum() >= 2:
        slope, intercept = np.polyfit(numbers[ok], objective[ok], 1)
        ends = np.array([numbers[0], numbers[-1]], dtype=float)
        axis.plot(ends, intercept + slope * ends, color="black", linestyle="--",
                  label=f"least-squares trend ({slope:+.3g} per trial)")
    axis.set_xlabel("trial number")
    axis.set_ylabel(OBJECTIVE_LABEL)
    failed = int((~np.isfinite(objective)).sum())
    axis.set_title(f"{strategy}: objective per trial"
                   + (f" ({failed} failed: dotted lines)" if failed else ""))
    axis.legend(loc="best")
    figure.tight_layout()
    return figure


def strategy_best_so_far_figure(strategy: str, table: pd.DataFrame) -> Figure:
    figure = new_figure()
    axis = figure.add_subplot()
    curve = best_so_far(table)
    axis.plot(trial_numbers(table), curve, drawstyle="steps-post",
              color=strategy_colour(strategy, [strategy]), label=strategy)
    if wide_positive(curve):
        axis.set_yscale("log")
    axis.set_xlabel("trial number")
    axis.set_ylabel(BEST_LABEL)
    axis.set_title(f"{strategy}: best objective so far")
    figure.tight_layout()
    return figure


def block_size(n_trials: int, n_blocks: int = N_BLOCKS) -> int:
    """Trials per box in the parameter figure: budget / n_blocks rounded up (at least 1)."""
    return max(1, math.ceil(n_trials / n_blocks))


def parameters_figure(strategy: str, table: pd.DataFrame, axes: Sequence[ParamAxis],
                      block: int | None = None) -> Figure:
    """Each parameter per trial (one panel each), box plots over blocks of trials."""
    block = block or block_size(len(table))
    figure = new_figure(7.0, 1.0 + 2.4 * max(1, len(axes)))
    numbers = trial_numbers(table)
    ok = ok_mask(table).to_numpy()
    colours = np.where(ok, strategy_colour(strategy, [strategy]), "tab:red")
    panels = figure.subplots(len(axes), 1, sharex=True, squeeze=False)[:, 0] if axes else []
    for panel, param in zip(panels, axes, strict=True):
        coords = param.coords(table[param.name])
        starts = range(0, len(table), block)
        data, positions = [], []
        for start in starts:
            chunk = coords[start:start + block]
            chunk = chunk[np.isfinite(chunk)]
            if len(chunk):
                data.append(chunk)
                positions.append((numbers[start] + numbers[min(start + block, len(table)) - 1])
                                 / 2)
        if data:
            panel.boxplot(data, positions=positions, widths=0.7 * block, manage_ticks=False,
                          showfliers=False, medianprops={"color": "black"},
                          boxprops={"color": "0.4"}, whiskerprops={"color": "0.4"},
                          capprops={"color": "0.4"})
        panel.scatter(numbers, coords, c=list(colours), s=18, zorder=3)
        param.style(panel, "y")
    if len(panels):
        panels[-1].set_xlabel("trial number")
        panels[0].set_title(f"{strategy}: hyperparameters per trial "
                            f"(boxes: blocks of {block} trials; red: not ok)")
    figure.tight_layout()
    return figure


def cv_folds_figure(strategy: str, table: pd.DataFrame, n_best: int = N_BEST,
                    fold_metric: str | None = None) -> Figure | None:
    """Box plots of the per-fold CV scores of the n_best best ok trials, best first."""
    columns = fold_columns(table, fold_metric)
    ok = table[ok_mask(table)]
    if not columns or not len(ok):
        return None
    best = ok.sort_values(["objective", "trial"], kind="stable").head(n_best)
    data = [row[columns].to_numpy(dtype=float) for _, row in best.iterrows()]
    data = [values[np.isfinite(values)] for values in data]
    figure = new_figure()
    axis = figure.add_subplot()
    labels = [f"trial {int(trial)}" for trial in best["trial"]]
    axis.boxplot(data, tick_labels=labels, medianprops={"color": "black"})
    for position, values in enumerate(data, start=1):
        axis.scatter(np.full(len(values), position), values, s=14, zorder=3,
                     color=strategy_colour(strategy, [strategy]))
    # A network's fold score (a classifier's accuracy, a regression's RMSE), or the value a
    # function or table gives.
    metric = {"_accuracy": "accuracy", "_rmse": "RMSE"}.get(
        columns[0][columns[0].rfind("_"):])
    axis.set_xlabel("trial id (best objective first)")
    axis.set_ylabel(f"validation {metric} per fold" if metric else "objective value per fold")
    axis.set_title(f"{strategy}: CV folds of the {len(best)} best trials")
    figure.tight_layout()
    return figure


def _edges(centres: np.ndarray, scale: str,
           bounds: tuple[float, float] | None = None) -> np.ndarray:
    """Cell edges around sorted centres: midway between neighbours on the axis's scale, the
    outer ones as far out again, clipped to the space's bounds."""
    coords = np.log10(centres) if scale == "log" else centres
    if len(coords) == 1:
        edges = np.array([coords[0] - 0.5, coords[0] + 0.5])
    else:
        middle = (coords[:-1] + coords[1:]) / 2
        edges = np.concatenate([[coords[0] - (middle[0] - coords[0])], middle,
                                [coords[-1] + (coords[-1] - middle[-1])]])
    edges = 10.0 ** edges if scale == "log" else edges
    if bounds is not None:
        edges = np.clip(edges, min(bounds[0], centres[0]), max(bounds[1], centres[-1]))
    return edges


def grid_mesh(grid_table: pd.DataFrame, x_axis: ParamAxis, y_axis: ParamAxis):
    """(x edges, y edges, objective[y, x]) of the grid strategy's trials on two parameters.

    A cell holds the lowest ok objective among grid trials at that point (over the other
    parameters when there are more than two); NaN when none is ok. None when the points do
    not lie on positive coordinates where a log axis needs them.
    """
    frame = pd.DataFrame({"x": x_axis.coords(grid_table[x_axis.name]),
                          "y": y_axis.coords(grid_table[y_axis.name]),
                          "objective": grid_table["objective"].where(ok_mask(grid_table))})
    frame = frame[np.isfinite(frame["x"]) & np.isfinite(frame["y"])]
    if not len(frame):
        return None
    xs, ys = np.unique(frame["x"]), np.unique(frame["y"])
    if (x_axis.scale == "log" and xs.min() <= 0) or (y_axis.scale == "log" and ys.min() <= 0):
        return None
    cells = frame.groupby(["y", "x"])["objective"].min()
    index = pd.MultiIndex.from_product([ys, xs], names=["y", "x"])
    values = cells.reindex(index).to_numpy(dtype=float).reshape(len(ys), len(xs))
    return (_edges(xs, x_axis.scale, x_axis.bounds), _edges(ys, y_axis.scale, y_axis.bounds),
            values)


def space_figure(strategy: str, table: pd.DataFrame, axes: Sequence[ParamAxis],
                 grid_table: pd.DataFrame | None = None) -> Figure | None:
    """The first two parameters of every trial, coloured by objective; the grid strategy's
    objectives as a heatmap underneath when a grid table is given."""
    if len(axes) < 2:
        return None
    x_axis, y_axis = axes[0], axes[1]
    ok = ok_mask(table).to_numpy()
    objective = table["objective"].to_numpy(dtype=float)
    mesh = grid_mesh(grid_table, x_axis, y_axis) if grid_table is not None else None
    colour_values = list(objective[ok])
    if mesh is not None:
        colour_values += list(mesh[2][np.isfinite(mesh[2])])
    norm = objective_norm(colour_values)
    cmap = colormaps[COLOURMAP]
    figure = new_figure(7.0, 5.5)
    axis = figure.add_subplot()
    mappable = None
    if mesh is not None:
        x_edges, y_edges, values = mesh
        mappable = axis.pcolormesh(x_edges, y_edges, np.ma.masked_invalid(values), cmap=cmap,
                                   norm=norm, shading="flat", alpha=0.85, zorder=1)
    x, y = x_axis.coords(table[x_axis.name]), y_axis.coords(table[y_axis.name])
    if ok.any():
        mappable = axis.scatter(x[ok], y[ok], c=objective[ok], cmap=cmap, norm=norm, s=45,
                                edgecolors="black", linewidths=0.6, zorder=3, label="ok")
    if (~ok).any():
        axis.scatter(x[~ok], y[~ok], marker="x", color="tab:red", s=45, zorder=3,
                     label="diverged or failed")
        axis.legend(loc="best")
    if mappable is not None:
        figure.colorbar(mappable, ax=axis, label=OBJECTIVE_LABEL)
    x_axis.style(axis, "x", limits=True)
    y_axis.style(axis, "y", limits=True)
    axis.set_title(f"{strategy}: explored space"
                   + (" over the grid strategy's heatmap" if mesh is not None else ""))
    figure.tight_layout()
    return figure

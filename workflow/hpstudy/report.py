"""The comparison report: figures (matplotlib) and tables (pandas) across strategies.

`build_report` writes into one directory (atomically, via `hpstudy.fileio`):

- per strategy: `<strategy>_objective.png`, `<strategy>_best_so_far.png`,
  `<strategy>_parameters.png`, `<strategy>_cv_folds.png` (when the table has fold columns),
  `<strategy>_space.png` (when the space has two or more parameters);
- across strategies: `best_so_far.png`, `best_so_far_time.png`, `comparison.csv`, and with
  held-out test results `cv_vs_test.png`;
- with repeated studies (several seeds per strategy): `repeats_best_so_far.png`, `repeats.csv`;
- `index.html`: every figure embedded as a data URI and every table inline, so the page opens
  offline on its own.

Every figure function returns a matplotlib `Figure` (never shown, never registered with pyplot)
so that tests can inspect what was drawn; `build_report` renders them with the Agg backend.
The same inputs give the same bytes: PNGs carry no Software/date metadata, the page no
timestamp, and every order (strategies, parameters, trials) comes from the inputs.

Conventions: the objective is minimised. A trial's *number* is its 1-based position in
trials.csv sorted by trial id (trial id 0 is trial number 1); `best_trial` in the tables is the
trial id as in trials.csv, the MLflow `trial` tag and `results/<strategy>/trials/<id>/`.
Best-so-far counts `ok` trials only: a diverged trial's objective is a penalty, not a
measurement.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from hpstudy import fileio

REFERENCE = "random"  # the strategy every other one is tested against in the repeats
N_BLOCKS = 5  # per-parameter box plots: the trials cut into this many blocks (budget / 5)
N_BEST = 5  # CV box plots: this many best trials
COLOURMAP = "viridis_r"  # low objective (better) = bright
_OTHER_COLOURS = ("tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")
_FOLD_COLUMN = re.compile(r"^fold_(\d+)_(\w+)$")
OBJECTIVE_LABEL = "objective (lower is better)"
BEST_LABEL = "best objective so far (lower is better)"


# --- inputs -------------------------------------------------------------------------------

def load_trials(trials_paths: Mapping[str, str],
                timings_paths: Mapping[str, str] | None = None) -> dict[str, pd.DataFrame]:
    """{strategy: trials.csv as a DataFrame sorted by trial id}, in the order given.

    With timings_paths ({strategy: timings.csv}), each table gains the measured training
    time of each trial as `duration_s` (wall seconds) and `cpu_seconds`; without, both NaN.
    """
    return {strategy: _read_trials(path, (timings_paths or {}).get(strategy))
            for strategy, path in trials_paths.items()}


def _read_trials(path, timings_path=None) -> pd.DataFrame:
    table = pd.read_csv(path)
    missing = {"trial", "objective", "status"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    table["objective"] = pd.to_numeric(table["objective"], errors="coerce")
    table["duration_s"] = math.nan
    table["cpu_seconds"] = math.nan
    if timings_path is not None:
        timings = pd.read_csv(timings_path).set_index("trial")
        table["duration_s"] = table["trial"].map(timings["fit_seconds"])
        table["cpu_seconds"] = table["trial"].map(timings["fit_cpu_seconds"])
    return table.sort_values("trial", kind="stable").reset_index(drop=True)


def trial_numbers(table: pd.DataFrame) -> np.ndarray:
    """1-based trial numbers: the position in the (trial-sorted) table plus one."""
    return np.arange(1, len(table) + 1)


def ok_mask(table: pd.DataFrame) -> pd.Series:
    return (table["status"] == "ok") & np.isfinite(table["objective"])


def best_so_far(table: pd.DataFrame) -> pd.Series:
    """Running minimum of the objective over ok trials; NaN until the first ok trial.

    Diverged (penalty) and failed trials carry the last best forward.
    """
    values = table["objective"].where(ok_mask(table), np.inf)
    return values.cummin().replace(np.inf, np.nan)


def fold_columns(table: pd.DataFrame, metric: str | None = None) -> list[str]:
    """The fold_<k>_<metric> columns, by fold k: of the objective's fold metric
    (Objective.fold_metric) or, when not given, of the first metric that has fold columns."""
    found: dict[str, list[tuple[int, str]]] = {}
    for column in table.columns:
        match = _FOLD_COLUMN.match(str(column))
        if match:
            found.setdefault(match.group(2), []).append((int(match.group(1)), column))
    if metric is None and found:
        metric = sorted(found)[0]
    return [column for _, column in sorted(found.get(metric, []))]


# --- parameter axes -----------------------------------------------------------------------

@dataclass(frozen=True)
class ParamAxis:
    """How one search-space parameter is drawn on an axis."""

    name: str
    label: str
    scale: str = "linear"  # "linear" or "log"
    complement: bool = False
    choices: tuple[Any, ...] = field(default=())
    bounds: tuple[float, float] | None = None  # the space's extent in plot coordinates

    def coords(self, values) -> np.ndarray:
        """Plot coordinates of parameter values (choices: their index)."""
        if self.choices:
            index = {choice: i for i, choice in enumerate(self.choices)}
            return np.array([index.get(value, np.nan) for value in values], dtype=float)
        numbers = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce")
        coords = numbers.to_numpy(dtype=float)
        return 1.0 - coords if self.complement else coords

    def style(self, axis, which: str, limits: bool = False) -> None:
        """Scale, label, (for choices) tick labels and, with limits, the space's extent on
        axis's `which` ("x" or "y")."""
        getattr(axis, f"set_{which}scale")(self.scale)
        getattr(axis, f"set_{which}label")(self.label)
        if self.bounds is not None and limits:
            getattr(axis, f"set_{which}lim")(*self.bounds)
        if self.choices:
            getattr(axis, f"set_{which}ticks")(range(len(self.choices)),
                                               [str(c) for c in self.choices])


def parameter_axes(space_config: Mapping[str, Mapping[str, Any]] | None,
                   table: pd.DataFrame | None = None) -> list[ParamAxis]:
    """One ParamAxis per search-space parameter, in the config's order.

    Without a space config the parameters are the columns between `round` (or `trial`) and
    `objective` of trials.csv, all drawn on linear axes.
    """
    if space_config is None:
        if table is None:
            return []
        columns = list(table.columns)
        start = columns.index("round") + 1 if "round" in columns else columns.index("trial") + 1
        return [ParamAxis(name, name) for name in columns[start:columns.index("objective")]]
    axes = []
    for name, spec in space_config.items():
        kind = spec.get("type", "uniform")
        bounds = None
        if kind != "choice" and spec.get("low") is not None and spec.get("high") is not None:
            # Plot coordinates of a complement parameter are 1 - value = the raw draw, so
            # the raw bounds are the plot bounds either way.
            bounds = (float(spec["low"]), float(spec["high"]))
        if kind == "choice":
            axes.append(ParamAxis(name, name, choices=tuple(spec.get("choices", ()))))
        elif spec.get("transform", "none") == "complement":
            # value = 1 - loguniform (the classic momentum). Drawn as 1 - value on a log axis:
            # that is the scale the sampler draws on, so the points spread evenly over its
            # decades (momentum 0.684..0.997 is 1 - momentum 3e-3..0.32, two decades), and
            # the good region, momentum close to 1, is stretched out instead of squeezed
            # against the top of an axis that spans less than a fifth of a decade.
            scale = "log" if kind == "loguniform" else "linear"
            axes.append(ParamAxis(name, f"1 - {name}", scale=scale, complement=True,
                                  bounds=bounds))
        else:
            axes.append(ParamAxis(name, name, scale="log" if kind == "loguniform" else "linear",
                                  bounds=bounds))
    return axes


# --- tables -------------------------------------------------------------------------------

def trials_to_margin(table: pd.DataFrame, target: float, margin: float) -> int | None:
    """First 1-based trial number whose best-so-far is within margin of target, else None."""
    if not math.isfinite(target):
        return None
    within = np.flatnonzero((best_so_far(table) <= target + margin).to_numpy())
    return int(within[0]) + 1 if len(within) else None


def overall_best(trials: Mapping[str, pd.DataFrame]) -> float:
    """The lowest ok objective across all strategies (NaN when none is ok)."""
    bests = [table.loc[ok_mask(table), "objective"].min() for table in trials.values()]
    bests = [float(b) for b in bests if pd.notna(b)]
    return min(bests) if bests else math.nan


def comparison_table(trials: Mapping[str, pd.DataFrame], parameters: Sequence[str],
                     margin: float = 0.05,
                     test_results: Mapping[str, Mapping[str, Any]] | None = None
                     ) -> pd.DataFrame:
    """One row per strategy: trials, ok, failed_or_diverged, best_objective, [test_objective,
    test_accuracy], the best trial's params, best_trial (id), trials_to_margin. No measured
    times: the same trials give the same bytes (see training_time_table).
    """
    target = overall_best(trials)
    with_accuracy = bool(test_results) and any(
        "test_accuracy" in (result or {}) for result in test_results.values())
    rows = []
    for strategy, table in trials.items():
        ok = table[ok_mask(table)]
        row: dict[str, Any] = {"strategy": strategy, "trials": len(table), "ok": len(ok),
                               "failed_or_diverged": len(table) - len(ok),
                               "best_objective": math.nan}
        if test_results is not None:
            result = test_results.get(strategy) or {}
            row["test_objective"] = _number(result.get("test_objective"))
            if with_accuracy:
                row["test_accuracy"] = _number(result.get("test_accuracy"))
        best = ok.loc[ok["objective"].idxmin()] if len(ok) else None
        for name in parameters:
            row[name] = best[name] if best is not None else None
        if best is not None:
            row["best_objective"] = float(best["objective"])
        row["best_trial"] = int(best["trial"]) if best is not None else None
        row["trials_to_margin"] = trials_to_margin(table, target, margin)
        rows.append(row)
    frame = pd.DataFrame(rows)
    for column in ("best_trial", "trials_to_margin"):
        frame[column] = pd.array(frame[column].tolist(), dtype="Int64")
    return frame


def training_time_table(trials: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per strategy: trials and their summed training time, wall and CPU seconds.
    Measured, so it differs from run to run; kept out of the comparison table for that."""
    rows = [{"strategy": strategy, "trials": len(table),
             "training_seconds": round(float(table["duration_s"].sum()), 3),
             "training_cpu_seconds": round(float(table["cpu_seconds"].sum()), 3)}
            for strategy, table in trials.items()]
    return pd.DataFrame(rows, columns=["strategy", "trials", "training_seconds",
                                       "training_cpu_seconds"])


def _number(value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def repeat_curves(repeats: Mapping[str, Sequence[str]]) -> dict[str, np.ndarray]:
    """{strategy: seeds x trials array of best-so-far}, seeds in the order given.

    Seeds of one strategy are cut to the shortest seed's length (normally all are equal).
    """
    curves = {}
    for strategy, paths in repeats.items():
        series = [best_so_far(_read_trials(path)).to_numpy(dtype=float) for path in paths]
        if not series:
            continue
        length = min(len(s) for s in series)
        curves[strategy] = np.vstack([s[:length] for s in series])
    return curves


def _nan_stats(values: np.ndarray, axis=None):
    """(median, 25th, 75th percentile) ignoring NaN (no ok trial yet), quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(values, axis=axis)
        q25, q75 = np.nanpercentile(values, [25, 75], axis=axis)
    return median, q25, q75


def paired_wilcoxon(values: np.ndarray, reference: np.ndarray) -> tuple[float, float, str]:
    """scipy.stats.wilcoxon(values, reference) on seeds paired by index.

    Seeds without an ok trial by then (NaN) drop out with their pair. Returns (statistic,
    p-value, note); NaN and a note when the test cannot run.
    """
    from scipy.stats import wilcoxon

    pairs = min(len(values), len(reference))
    x, y = np.asarray(values[:pairs], float), np.asarray(reference[:pairs], float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 2:
        return math.nan, math.nan, f"{len(x)} paired seed(s): at least 2 needed"
    if np.all(x - y == 0):
        return math.nan, math.nan, "all paired differences are zero"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = wilcoxon(x, y)
    except ValueError as error:
        return math.nan, math.nan, f"wilcoxon: {error}"
    return float(result.statistic), float(result.pvalue), ""


REPEATS_COLUMNS = [
    "strategy", "seeds", "budget", "median_final_best", "q25_final_best", "q75_final_best",
    "half_budget", "median_half_best", "paired_seeds", "median_diff_final",
    "wilcoxon_final_statistic", "wilcoxon_final_p", "wilcoxon_half_statistic",
    "wilcoxon_half_p", "note"]


def repeats_table(curves: Mapping[str, np.ndarray], reference: str = REFERENCE) -> pd.DataFrame:
    """Per strategy: seeds, budget, median and IQR of the final best, median best at half the
    budget, and the paired Wilcoxon test against `reference` at the final budget and at half
    of it (the budget both strategies reached; half = that // 2, at least 1).
    """
    rows = []
    base = curves.get(reference)
    for strategy, curve in curves.items():
        budget = curve.shape[1]
        half = max(1, budget // 2)
        median, q25, q75 = _nan_stats(curve[:, budget - 1])
        row: dict[str, Any] = {
            "strategy": strategy, "seeds": curve.shape[0], "budget": budget,
            "median_final_best": float(median), "q25_final_best": float(q25),
            "q75_final_best": float(q75), "half_budget": half,
            "median_half_best": float(_nan_stats(curve[:, half - 1])[0]),
            "paired_seeds": math.nan, "median_diff_final": math.nan,
            "wilcoxon_final_statistic": math.nan, "wilcoxon_final_p": math.nan,
            "wilcoxon_half_statistic": math.nan, "wilcoxon_half_p": math.nan, "note": ""}
        if strategy == reference:
            row["note"] = "reference"
        elif base is None:
            row["note"] = f"no {reference} repeats to compare with"
        else:
            pairs = min(curve.shape[0], base.shape[0])
            shared = min(budget, base.shape[1])
            shared_half = max(1, shared // 2)
            notes = []
            if shared != budget:
                notes.append(f"tested at {shared} trials, {reference}'s budget")
            final = curve[:pairs, shared - 1] - base[:pairs, shared - 1]
            row["paired_seeds"] = pairs
            row["median_diff_final"] = float(_nan_stats(final)[0]) if pairs else math.nan
            for label, at in (("final", shared), ("half", shared_half)):
                statistic, p, note = paired_wilcoxon(curve[:, at - 1], base[:, at - 1])
                row[f"wilcoxon_{label}_statistic"] = statistic
                row[f"wilcoxon_{label}_p"] = p
                if note:
                    notes.append(f"{label}: {note}")
            row["note"] = "; ".join(notes)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=REPEATS_COLUMNS)
    if len(frame):
        frame["paired_seeds"] = pd.array(
            [None if pd.isna(v) else int(v) for v in frame["paired_seeds"]], dtype="Int64")
    return frame


# --- figures ------------------------------------------------------------------------------

def _figure(width: float = 7.0, height: float = 4.5) -> Figure:
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)  # the Agg backend, without pyplot's global figure registry
    return figure


def _fixed_colour(strategy: str) -> str | None:
    """The colour a strategy's module declares (strategies.base.Strategy.colour), if any."""
    from hpstudy.strategies import registry

    found = registry().get(strategy)
    return found.colour if found is not None else None


def strategy_colour(strategy: str, order: Sequence[str]) -> str:
    """A strategy's own colour, or else one of a palette by its place among the strategies
    in `order` that declare none (so figures of one report agree with each other)."""
    fixed = _fixed_colour(strategy)
    if fixed is not None:
        return fixed
    others = [s for s in order if _fixed_colour(s) is None]
    if strategy not in others:
        others.append(strategy)
    return _OTHER_COLOURS[others.index(strategy) % len(_OTHER_COLOURS)]


def _wide_positive(values) -> bool:
    """True for positive values spanning more than two decades (then: log axis / colours)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return bool(len(values)) and values.min() > 0 and values.max() / values.min() > 100


def objective_norm(values) -> Normalize:
    """Colour scale of objectives: logarithmic when they span more than two decades."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return Normalize(0.0, 1.0)
    low, high = float(values.min()), float(values.max())
    if _wide_positive(values):
        return LogNorm(low, high)
    if low == high:
        return Normalize(low - 0.5, high + 0.5)
    return Normalize(low, high)


def objective_figure(strategy: str, table: pd.DataFrame) -> Figure:
    """Objective per trial (ok: dots, diverged: crosses at their penalty, failed: grey lines)
    with a least-squares line over the ok trials."""
    figure = _figure()
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
    figure = _figure()
    axis = figure.add_subplot()
    curve = best_so_far(table)
    axis.plot(trial_numbers(table), curve, drawstyle="steps-post",
              color=strategy_colour(strategy, [strategy]), label=strategy)
    if _wide_positive(curve):
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
    figure = _figure(7.0, 1.0 + 2.4 * max(1, len(axes)))
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
    figure = _figure()
    axis = figure.add_subplot()
    labels = [f"trial {int(trial)}" for trial in best["trial"]]
    axis.boxplot(data, tick_labels=labels, medianprops={"color": "black"})
    for position, values in enumerate(data, start=1):
        axis.scatter(np.full(len(values), position), values, s=14, zorder=3,
                     color=strategy_colour(strategy, [strategy]))
    metric = "accuracy" if columns[0].endswith("_accuracy") else "value"
    axis.set_xlabel("trial id (best objective first)")
    axis.set_ylabel(f"validation {metric} per fold" if metric == "accuracy"
                    else "objective value per fold")
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
    figure = _figure(7.0, 5.5)
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


def _across_figure(trials, target, margin, by_time: bool) -> Figure:
    figure = _figure()
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
        else:
            x = trial_numbers(table)
        axis.plot(x, curve, drawstyle="steps-post", label=strategy,
                  color=strategy_colour(strategy, order))
    values = pd.concat(curves) if curves else pd.Series(dtype=float)
    if _wide_positive(values):
        axis.set_yscale("log")
    if target is not None and margin is not None and math.isfinite(target):
        axis.axhspan(target, target + margin, color="0.85", zorder=0,
                     label=f"within {margin:g} of the best")
    if by_time:
        axis.set_xlabel("cumulative training CPU seconds")
        if total == 0.0:
            axis.text(0.5, 0.5, "no training time recorded (CPU seconds = 0)",
                      transform=axis.transAxes, ha="center", color="0.4")
    else:
        axis.set_xlabel("trial number")
    axis.set_ylabel(BEST_LABEL)
    axis.set_title("Best objective so far, per strategy"
                   + (" (by training time)" if by_time else ""))
    axis.legend(loc="best")
    figure.tight_layout()
    return figure


def cv_vs_test_figure(test_results: Mapping[str, Mapping[str, Any]]) -> Figure | None:
    """Per strategy: the chosen trial's CV objective next to its held-out test objective."""
    rows = [(strategy, _number(result.get("cv_objective")), _number(result.get("test_objective")),
             _number(result.get("test_accuracy")))
            for strategy, result in test_results.items() if result]
    rows = [row for row in rows if math.isfinite(row[1]) or math.isfinite(row[2])]
    if not rows:
        return None
    figure = _figure()
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
    figure = _figure()
    axis = figure.add_subplot()
    order = list(curves)
    for strategy, curve in curves.items():
        numbers = np.arange(1, curve.shape[1] + 1)
        median, q25, q75 = _nan_stats(curve, axis=0)
        colour = strategy_colour(strategy, order)
        axis.fill_between(numbers, q25, q75, step="post", color=colour, alpha=0.2, linewidth=0)
        axis.plot(numbers, median, drawstyle="steps-post", color=colour,
                  label=f"{strategy} ({curve.shape[0]} seeds)")
    if _wide_positive(np.concatenate([c.ravel() for c in curves.values()]) if curves else []):
        axis.set_yscale("log")
    axis.set_xlabel("trial number")
    axis.set_ylabel("median best objective so far")
    axis.set_title("Repeated studies: median best-so-far, band = interquartile range")
    axis.legend(loc="best")
    figure.tight_layout()
    return figure


# --- assembling ---------------------------------------------------------------------------

CAPTIONS = {
    "best_so_far": "Best objective so far against the number of trials run, one line per "
                   "strategy (lower is better). The lower a line and the earlier it drops, the "
                   "better the strategy; the grey band is within the margin of the best "
                   "objective any strategy found (see trials_to_margin).",
    "best_so_far_time": "The same against cumulative training CPU seconds (trials summed as if "
                        "run one after another: compute spent, not wall-clock time, which "
                        "depends on how many jobs shared the machine).",
    "cv_vs_test": "For the best trial of each strategy: its cross-validation objective (circle) "
                  "and its objective on the held-out test set (square). A large gap means the "
                  "search overfitted the CV folds.",
    "repeats_best_so_far": "Each strategy run with several seeds: the median best-so-far across "
                           "seeds (line) and the interquartile range (band). Overlapping bands "
                           "mean the difference between strategies is within seed noise.",
    "objective": "Objective of every trial in the order run (dots: ok; crosses: diverged, at "
                 "their penalty; dotted lines: failed). The dashed least-squares line over the ok "
                 "trials slopes down when the strategy learns where the good region is.",
    "best_so_far_one": "Best objective so far against trial number, this strategy alone.",
    "parameters": "Each hyperparameter per trial (log axes for log-scale parameters; "
                  "'1 - momentum' for complement parameters), with a box plot per block of "
                  "trials (budget / 5 trials per box). Boxes that narrow over time show the "
                  "strategy concentrating on a region; random search keeps them wide.",
    "cv_folds": "Per-fold cross-validation scores of the five best trials, best first: the box "
                "shows how much the folds disagree, i.e. how far the ranking of the best trials "
                "can be trusted (for accuracy, higher is better).",
    "space": "Where the strategy sampled, on the first two parameters, coloured by objective "
             "(bright = lower = better; crosses: diverged or failed). Underneath, when a grid "
             "study was run, the grid's objectives as a heatmap.",
}


def make_figures(trials: Mapping[str, pd.DataFrame], axes: Sequence[ParamAxis],
                 margin: float = 0.05,
                 test_results: Mapping[str, Mapping[str, Any]] | None = None,
                 curves: Mapping[str, np.ndarray] | None = None,
                 fold_metric: str | None = None) -> dict[str, Figure]:
    """Every figure of the report by name (the PNG's stem), in page order."""
    target = overall_best(trials)
    figures: dict[str, Figure | None] = {
        "best_so_far": best_so_far_figure(trials, target, margin),
        "best_so_far_time": best_so_far_time_figure(trials, target, margin),
    }
    if test_results:
        figures["cv_vs_test"] = cv_vs_test_figure(test_results)
    if curves:
        figures["repeats_best_so_far"] = repeats_figure(curves)
    grid_table = trials.get("grid")
    for strategy, table in trials.items():
        figures[f"{strategy}_objective"] = objective_figure(strategy, table)
        figures[f"{strategy}_best_so_far"] = strategy_best_so_far_figure(strategy, table)
        if axes:
            figures[f"{strategy}_parameters"] = parameters_figure(strategy, table, axes)
        figures[f"{strategy}_cv_folds"] = cv_folds_figure(strategy, table, fold_metric=fold_metric)
        figures[f"{strategy}_space"] = space_figure(strategy, table, axes, grid_table)
    return {name: figure for name, figure in figures.items() if figure is not None}


def figure_kind(name: str, strategies: Sequence[str]) -> str:
    """The caption key of a figure name ("tpe_space" -> "space")."""
    if name in CAPTIONS:
        return name
    for strategy in sorted(strategies, key=len, reverse=True):
        if name.startswith(f"{strategy}_"):
            kind = name[len(strategy) + 1:]
            return "best_so_far_one" if kind == "best_so_far" else kind
    raise KeyError(name)


def render_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    # No Software/date metadata: the same data gives the same bytes.
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def _cell(value) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float | np.floating):
        return f"{float(value):.6g}"
    return str(value)


def html_table(frame: pd.DataFrame) -> str:
    """A DataFrame as an HTML table: floats to 6 significant digits, missing values blank."""
    shown = pd.DataFrame({column: [_cell(v) for v in frame[column].tolist()]
                          for column in frame.columns}, columns=frame.columns)
    return shown.to_html(index=False, border=0, escape=True)


def _figure_html(name: str, png: bytes, caption: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return (f'<figure id="{html.escape(name)}"><img alt="{html.escape(name)}" '
            f'src="data:image/png;base64,{encoded}">\n'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>\n")


def _training_time_html(training_time: pd.DataFrame | None) -> str:
    if training_time is None:
        return ""
    return f"""<p>Training time (measured: wall seconds depend on what else ran on the machine,
CPU seconds much less), summed over each strategy's trials and folds:</p>
{html_table(training_time)}
"""


def render_html(experiment: str, strategies: Sequence[str], pngs: Mapping[str, bytes],
                captions: Mapping[str, str], comparison: pd.DataFrame, margin: float,
                repeats: pd.DataFrame | None = None,
                training_time: pd.DataFrame | None = None) -> str:
    def figures(names):
        return "".join(_figure_html(n, pngs[n], captions[n]) for n in names if n in pngs)

    parts = [f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(experiment)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:64em}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:.3em .6em}}
td{{text-align:right}}figure{{margin:1.5em 0}}img{{max-width:100%}}
figcaption{{color:#444;max-width:48em}}</style>
</head><body>
<h1>Hyperparameter study: {html.escape(experiment)}</h1>
<p>Strategies: {html.escape(", ".join(strategies))}. The objective is minimised.</p>
<h2>Strategies compared</h2>
<p>One row per strategy. <code>best_trial</code> is the trial id in trials.csv (0-based);
<code>trials_to_margin</code> is the number of trials after which the strategy's best was
within {margin:g} (objective units) of the best objective found by any strategy (blank:
never). <code>test_objective</code>, when present, is the best trial's objective on the
held-out test set.</p>
{html_table(comparison)}
{_training_time_html(training_time)}""", figures(["best_so_far", "best_so_far_time", "cv_vs_test"])]
    if repeats is not None:
        parts.append(f"""<h2>Repeated studies</h2>
<p>Each strategy run with several seeds. Per strategy: the median (and interquartile range) of
the best objective at the end of the budget and the median at half of it; a paired Wilcoxon
signed-rank test (scipy.stats.wilcoxon, two-sided, seeds paired by index) against
{html.escape(REFERENCE)} search at the final budget and at half of it;
<code>median_diff_final</code> is the median paired difference (negative: better than
{html.escape(REFERENCE)}). Blank p-values: the test could not run (see note).</p>
{html_table(repeats)}
""")
        parts.append(figures(["repeats_best_so_far"]))
    parts.append("<h2>Per strategy</h2>\n")
    for strategy in strategies:
        parts.append(f"<h3>{html.escape(strategy)}</h3>\n")
        parts.append(figures([f"{strategy}_{kind}" for kind in
                              ("objective", "best_so_far", "parameters", "cv_folds", "space")]))
    parts.append("</body></html>\n")
    return "".join(parts)


def build_report(*, experiment: str, trials_paths: Mapping[str, str], out_dir: str,
                 timings_paths: Mapping[str, str] | None = None,
                 space_config: Mapping[str, Mapping[str, Any]] | None = None,
                 margin: float = 0.05,
                 test_results: Mapping[str, Mapping[str, Any]] | None = None,
                 repeats: Mapping[str, Sequence[str]] | None = None,
                 figures_dir: str | None = None,
                 fold_metric: str | None = None) -> dict[str, Any]:
    """Write the report into out_dir (PNGs into figures_dir, default out_dir); return what
    was written.

    trials_paths: {strategy: trials.csv}, in page order. timings_paths: {strategy:
    timings.csv} (the training-time axis and table). space_config: config.yaml's `space:`
    (log axes, complement parameters); without it the parameters are read off trials.csv and
    drawn on linear axes. margin: trials_to_margin counts trials until the best-so-far is
    within this absolute distance of the overall best objective. test_results: {strategy:
    held-out test result dict}. repeats: {strategy: [trials.csv per seed]}. fold_metric:
    the objective's per-fold metric (Objective.fold_metric) for the CV fold plots.

    Returns {"html": path of index.html, "figures": {name: PNG path}, "tables": {"comparison":
    path, "training_time": path, "repeats": path}, "captions": {name: caption}}, names in page
    order. repeats.csv is always written (only its header without repeats), so that it can
    be a declared output.
    """
    if not (isinstance(margin, int | float) and math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be a finite number >= 0, not {margin!r}")
    out = Path(out_dir)
    trials = load_trials(trials_paths, timings_paths)
    if not trials:
        raise ValueError("no trials.csv to report on")
    axes = parameter_axes(space_config, next(iter(trials.values())))
    for strategy, table in trials.items():
        missing = [a.name for a in axes if a.name not in table.columns]
        if missing:
            raise ValueError(f"{strategy}: trials.csv lacks parameter column(s) "
                             f"{', '.join(missing)}")
    strategies = list(trials)
    written: dict[str, Any] = {"html": str(out / "index.html"), "figures": {}, "tables": {},
                               "captions": {}}

    comparison = comparison_table(trials, [a.name for a in axes], margin, test_results)
    path = out / "comparison.csv"
    fileio.write_text(path, comparison.to_csv(index=False, lineterminator="\n"))
    written["tables"]["comparison"] = str(path)

    training_time = training_time_table(trials)
    path = out / "training_time.csv"
    fileio.write_text(path, training_time.to_csv(index=False, lineterminator="\n"))
    written["tables"]["training_time"] = str(path)

    curves = repeat_curves(repeats) if repeats else {}
    repeats_frame = repeats_table(curves) if curves else None
    path = out / "repeats.csv"
    written_repeats = repeats_frame if repeats_frame is not None else pd.DataFrame(
        columns=REPEATS_COLUMNS)
    fileio.write_text(path, written_repeats.to_csv(index=False, lineterminator="\n"))
    written["tables"]["repeats"] = str(path)

    pngs = {}
    figures = make_figures(trials, axes, margin, test_results, curves, fold_metric)
    for name, figure in figures.items():
        pngs[name] = render_png(figure)
        figure.clear()
        path = Path(figures_dir or out) / f"{name}.png"
        fileio.write_bytes(path, pngs[name])
        written["figures"][name] = str(path)
        written["captions"][name] = CAPTIONS[figure_kind(name, strategies)]

    page = render_html(experiment, strategies, pngs, written["captions"], comparison, margin,
                       repeats_frame, training_time)
    fileio.write_text(out / "index.html", page)
    return written

"""Assembling the report: every figure by name, then the tables, the PNGs and the page written
into one directory (atomically, via hpstudy.fileio)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hpstudy import fileio
from hpstudy.report import captions
from hpstudy.report.axes import ParamAxis, parameter_axes
from hpstudy.report.comparison_figures import (
    best_so_far_figure,
    best_so_far_resource_figure,
    best_so_far_time_figure,
    cv_vs_test_figure,
    repeats_figure,
)
from hpstudy.report.exploration_figures import (
    importance_figure,
    objective_edf_figure,
    slices_figure,
)
from hpstudy.report.figures import (
    cv_folds_figure,
    objective_figure,
    parameters_figure,
    space_figure,
    strategy_best_so_far_figure,
)
from hpstudy.report.importance import IMPORTANCE_COLUMNS, parameter_importance
from hpstudy.report.page import render_html
from hpstudy.report.plotting import render_png
from hpstudy.report.setup_section import setup_table
from hpstudy.report.stats import (
    REPEATS_COLUMNS,
    full_evaluation_cost,
    repeat_curves,
    repeats_table,
    resource_to_reference,
    stacked_curves,
)
from hpstudy.report.tables import (
    comparison_table,
    load_trials,
    overall_best,
    read_trials,
    training_time_table,
)
from hpstudy.report.verdict import verdict_table
from hpstudy.space import SearchSpace
from hpstudy.strategies import strategy_class


def make_figures(trials: Mapping[str, pd.DataFrame], axes: Sequence[ParamAxis],
                 margin: float = 0.05,
                 test_results: Mapping[str, Mapping[str, Any]] | None = None,
                 curves: Mapping[str, np.ndarray] | None = None,
                 fold_metric: str | None = None,
                 pooled: Mapping[str, pd.DataFrame] | None = None,
                 importance: pd.DataFrame | None = None,
                 per_strategy: bool = True) -> dict[str, Figure]:
    """Every figure of the report by name (the PNG's stem), in page order. pooled: {strategy:
    the trials of all its seeds} for the slices and EDF (default: `trials`); importance:
    hpstudy.report.importance's table; per_strategy: False leaves out each strategy's own
    figures (config report.figures: comparison)."""
    target = overall_best(trials)
    figures: dict[str, Figure | None] = {
        "best_so_far": best_so_far_figure(trials, target, margin),
        "best_so_far_time": best_so_far_time_figure(trials, target, margin),
        "best_so_far_resource": best_so_far_resource_figure(trials, target, margin),
    }
    if test_results:
        figures["cv_vs_test"] = cv_vs_test_figure(test_results)
    if curves:
        figures["repeats_best_so_far"] = repeats_figure(curves)
    figures["importance"] = importance_figure(importance)
    figures["slices"] = slices_figure(pooled or trials, axes)
    figures["objective_edf"] = objective_edf_figure(pooled or trials)
    grid_table = trials.get("grid")
    for strategy, table in trials.items() if per_strategy else ():
        figures[f"{strategy}_objective"] = objective_figure(strategy, table)
        figures[f"{strategy}_best_so_far"] = strategy_best_so_far_figure(strategy, table)
        if axes:
            figures[f"{strategy}_parameters"] = parameters_figure(strategy, table, axes)
        figures[f"{strategy}_cv_folds"] = cv_folds_figure(strategy, table, fold_metric=fold_metric)
        figures[f"{strategy}_space"] = space_figure(strategy, table, axes, grid_table)
    return {name: figure for name, figure in figures.items() if figure is not None}


def _write_csv(path: Path, frame: pd.DataFrame) -> str:
    fileio.write_text(path, frame.to_csv(index=False, lineterminator="\n"))
    return str(path)


def build_report(*, experiment: str, trials_paths: Mapping[str, str], out_dir: str,
                 timings_paths: Mapping[str, str] | None = None,
                 space: SearchSpace | None = None,
                 margin: float = 0.05,
                 test_results: Mapping[str, Mapping[str, Any]] | None = None,
                 repeats: Mapping[str, Sequence[str]] | None = None,
                 figures_dir: str | None = None,
                 fold_metric: str | None = None,
                 setup: Mapping[str, Any] | None = None,
                 seed: int = 0,
                 figures: str = "all") -> dict[str, Any]:
    """Write the report into out_dir (PNGs into figures_dir, default out_dir); return what
    was written.

    trials_paths: {strategy: trials.csv}, in page order. timings_paths: {strategy:
    timings.csv} (the training-time axis and table). space: the study's search space (log
    axes, complement parameters); without it the parameters are read off trials.csv and drawn
    on linear axes. margin: trials_to_margin counts trials
    until the best-so-far is within this absolute distance of the overall best objective.
    test_results: {strategy: held-out test result dict}. repeats: {strategy: [trials.csv per
    seed]}; a strategy without repeats has its one study in the verdict. fold_metric: the
    objective's per-fold metric (Objective.fold_metric) for the CV fold plots. setup: the
    keyword arguments of hpstudy.report.setup_section.setup_table, for the page's setup section.
    seed: the importance surrogate's. figures: config report.figures (all, or comparison:
    without each strategy's own figures).

    Returns {"html": path of index.html, "figures": {name: PNG path}, "tables": {"comparison":
    path, "training_time": path, "repeats": path, "verdict": path, "importance": path},
    "captions": {name: caption as plain text}}, names in page order. repeats.csv,
    verdict.csv and importance.csv are always written (only their header without repeats, a
    reference strategy, or enough trials), so that they can be declared outputs.
    """
    if not (isinstance(margin, int | float) and math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be a finite number >= 0, not {margin!r}")
    out = Path(out_dir)
    trials = load_trials(trials_paths, timings_paths)
    if not trials:
        raise ValueError("no trials.csv to report on")
    axes = parameter_axes(space, next(iter(trials.values())))
    for strategy, table in trials.items():
        missing = [a.name for a in axes if a.name not in table.columns]
        if missing:
            raise ValueError(f"{strategy}: trials.csv lacks parameter column(s) "
                             f"{', '.join(missing)}")
    strategies = list(trials)
    written: dict[str, Any] = {"html": str(out / "index.html"), "figures": {}, "tables": {},
                               "captions": {}}

    comparison = comparison_table(trials, [a.name for a in axes], margin, test_results)
    written["tables"]["comparison"] = _write_csv(out / "comparison.csv", comparison)
    training_time = training_time_table(trials)
    written["tables"]["training_time"] = _write_csv(out / "training_time.csv", training_time)
    curves = repeat_curves(repeats) if repeats else {}
    repeats_frame = repeats_table(curves) if curves else None
    written["tables"]["repeats"] = _write_csv(
        out / "repeats.csv",
        repeats_frame if repeats_frame is not None else pd.DataFrame(columns=REPEATS_COLUMNS))

    # Every strategy takes part in the verdict, the importance, the slices and the EDF with
    # all its seeds; one without repeats (grid) with its one study.
    seeds = {s: [read_trials(path) for path in (repeats or {}).get(s) or [trials_paths[s]]]
             for s in strategies}
    # Multi-fidelity strategies against the others at equal cost (stats.cost_curve).
    cost_unit = full_evaluation_cost(seeds)
    verdict = verdict_table(stacked_curves(seeds, cost_unit),
                            methods={s: strategy_class(s).method for s in strategies},
                            by_cost=[s for s in strategies if cost_unit and
                                     strategy_class(s).multi_fidelity])
    written["tables"]["verdict"] = _write_csv(out / "verdict.csv", verdict)
    resource = resource_to_reference(seeds)
    written["tables"]["resource"] = _write_csv(out / "resource.csv", resource)
    pooled = {s: pd.concat(tables, ignore_index=True) for s, tables in seeds.items()}
    importance = parameter_importance(pooled, axes, seed).table
    written["tables"]["importance"] = _write_csv(
        out / "importance.csv",
        importance if importance is not None else pd.DataFrame(columns=IMPORTANCE_COLUMNS))
    setup_frame = setup_table(**setup) if setup is not None else None

    pngs, figure_captions = {}, {}
    if figures not in ("all", "comparison"):
        raise ValueError(f"figures must be 'all' or 'comparison', not {figures!r}")
    drawn = make_figures(trials, axes, margin, test_results, curves, fold_metric, pooled,
                         importance, per_strategy=figures == "all")
    for name, figure in drawn.items():
        pngs[name] = render_png(figure)
        figure.clear()
        path = Path(figures_dir or out) / f"{name}.png"
        fileio.write_bytes(path, pngs[name])
        written["figures"][name] = str(path)
        figure_captions[name] = captions.figure_caption(name, strategies)
        written["captions"][name] = captions.plain(figure_captions[name])

    page = render_html(experiment, strategies, pngs, figure_captions, comparison, margin,
                       repeats_frame, training_time, verdict, setup_frame, importance,
                       resource if len(resource) else None)
    fileio.write_text(out / "index.html", page)
    return written

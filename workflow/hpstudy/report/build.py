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
from hpstudy.report.figures import (
    cv_folds_figure,
    objective_figure,
    parameters_figure,
    space_figure,
    strategy_best_so_far_figure,
)
from hpstudy.report.page import render_html
from hpstudy.report.plotting import render_png
from hpstudy.report.stats import REPEATS_COLUMNS, repeat_curves, repeats_table
from hpstudy.report.tables import (
    comparison_table,
    load_trials,
    overall_best,
    training_time_table,
)
from hpstudy.space import SearchSpace


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
        "best_so_far_resource": best_so_far_resource_figure(trials, target, margin),
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


def _write_csv(path: Path, frame: pd.DataFrame) -> str:
    fileio.write_text(path, frame.to_csv(index=False, lineterminator="\n"))
    return str(path)


def build_report(*, experiment: str, trials_paths: Mapping[str, str], out_dir: str,
                 timings_paths: Mapping[str, str] | None = None,
                 space_config: SearchSpace | Mapping[str, Mapping[str, Any]] | None = None,
                 margin: float = 0.05,
                 test_results: Mapping[str, Mapping[str, Any]] | None = None,
                 repeats: Mapping[str, Sequence[str]] | None = None,
                 figures_dir: str | None = None,
                 fold_metric: str | None = None) -> dict[str, Any]:
    """Write the report into out_dir (PNGs into figures_dir, default out_dir); return what
    was written.

    trials_paths: {strategy: trials.csv}, in page order. timings_paths: {strategy:
    timings.csv} (the training-time axis and table). space_config: the SearchSpace, or
    config.yaml's `space:` (log axes, complement parameters); without it the parameters are
    read off trials.csv and drawn on linear axes. margin: trials_to_margin counts trials
    until the best-so-far is within this absolute distance of the overall best objective.
    test_results: {strategy: held-out test result dict}. repeats: {strategy: [trials.csv per
    seed]}. fold_metric: the objective's per-fold metric (Objective.fold_metric) for the CV
    fold plots.

    Returns {"html": path of index.html, "figures": {name: PNG path}, "tables": {"comparison":
    path, "training_time": path, "repeats": path}, "captions": {name: caption as plain
    text}}, names in page order. repeats.csv is always written (only its header without
    repeats), so that it can be a declared output.
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
    written["tables"]["comparison"] = _write_csv(out / "comparison.csv", comparison)
    training_time = training_time_table(trials)
    written["tables"]["training_time"] = _write_csv(out / "training_time.csv", training_time)
    curves = repeat_curves(repeats) if repeats else {}
    repeats_frame = repeats_table(curves) if curves else None
    written["tables"]["repeats"] = _write_csv(
        out / "repeats.csv",
        repeats_frame if repeats_frame is not None else pd.DataFrame(columns=REPEATS_COLUMNS))

    pngs, figure_captions = {}, {}
    figures = make_figures(trials, axes, margin, test_results, curves, fold_metric)
    for name, figure in figures.items():
        pngs[name] = render_png(figure)
        figure.clear()
        path = Path(figures_dir or out) / f"{name}.png"
        fileio.write_bytes(path, pngs[name])
        written["figures"][name] = str(path)
        figure_captions[name] = captions.figure_caption(name, strategies)
        written["captions"][name] = captions.plain(figure_captions[name])

    page = render_html(experiment, strategies, pngs, figure_captions, comparison, margin,
                       repeats_frame, training_time)
    fileio.write_text(out / "index.html", page)
    return written

"""The HTML page: every table inline and every figure embedded as a data URI, so that it
opens offline on its own; rendered from templates/index.html.j2 with Jinja2 (autoescaped)."""

from __future__ import annotations

import base64
import functools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from hpstudy.report import captions

TEMPLATES = Path(__file__).resolve().parent / "templates"
PER_STRATEGY = ("objective", "best_so_far", "parameters", "cv_folds", "space")  # page order
# The verdict's columns on the page, few enough to fit it: the result, how large the
# difference is and how sure (verdict.csv has every one: IQRs, wins, raw p-values).
VERDICT_SHOWN = ["strategy", "reference", "seeds", "budget", "median_best",
                 "reference_median_best", "difference_estimate", "difference_low",
                 "difference_high", "win_share", "p_corrected", "significant",
                 "holds_from_budget"]
# Their headers on the page, short enough for a laptop's width (verdict.csv: the names above).
VERDICT_HEADERS = {"reference": "against", "budget": "at", "median_best": "median best",
                   "reference_median_best": "its median best",
                   "difference_estimate": "difference", "difference_low": "95 % CI low",
                   "difference_high": "95 % CI high", "win_share": "better on",
                   "p_corrected": "p corrected", "holds_from_budget": "holds from"}


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["rst"] = captions.to_html
    return env


def _cell(value) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float | np.floating):
        return f"{float(value):.3g}"
    return str(value)


def html_table(frame: pd.DataFrame) -> str:
    """A DataFrame as an HTML table: floats to 3 significant digits (the CSV files keep
    every digit), missing values blank."""
    shown = pd.DataFrame({column: [_cell(v) for v in frame[column].tolist()]
                          for column in frame.columns}, columns=frame.columns)
    return shown.to_html(index=False, border=0, escape=True)


def render_html(experiment: str, strategies: Sequence[str], pngs: Mapping[str, bytes],
                figure_captions: Mapping[str, str], comparison: pd.DataFrame, margin: float,
                repeats: pd.DataFrame | None = None,
                training_time: pd.DataFrame | None = None,
                verdict: pd.DataFrame | None = None,
                setup: pd.DataFrame | None = None,
                importance: pd.DataFrame | None = None,
                resource: pd.DataFrame | None = None) -> str:
    """The page. figure_captions: {figure name: caption (reStructuredText inline, see
    hpstudy.report.captions)} for every figure in pngs. verdict: hpstudy.report.verdict's
    table (its sentences open the page); setup: hpstudy.report.setup_section's (item, value) rows;
    importance: hpstudy.report.importance's table (None: too few trials for one); resource:
    hpstudy.report.stats.resource_to_reference's (None: no multi-fidelity strategy)."""

    def table(frame):
        return None if frame is None else Markup(html_table(frame))

    return environment().get_template("index.html.j2").render(
        experiment=experiment, strategies=list(strategies), margin=margin,
        images={name: base64.b64encode(png).decode("ascii") for name, png in pngs.items()},
        figure_captions=figure_captions,
        table_captions={name: captions.table_caption(name) for name in captions.TABLES},
        # Only strategies with figures drawn (report.figures: comparison draws none).
        per_strategy={s: names for s in strategies
                      if (names := [f"{s}_{kind}" for kind in PER_STRATEGY
                                    if f"{s}_{kind}" in pngs])},
        comparison=table(comparison), training_time=table(training_time),
        repeats=table(repeats),
        sentences=[] if verdict is None else verdict["sentence"].tolist(),
        verdict=None if verdict is None or not len(verdict) else table(
            verdict[VERDICT_SHOWN].rename(columns=VERDICT_HEADERS)),
        setup=None if setup is None else list(setup.itertuples(index=False)),
        importance=table(importance), resource=table(resource))

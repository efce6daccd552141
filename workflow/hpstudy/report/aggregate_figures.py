"""The suite's figures across benchmarks (hpstudy.report.aggregate): the critical-difference
diagram (average ranks by task mean, bars over the groups no corrected test separates) and the
interquartile means of normalised regret with their bootstrap intervals."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hpstudy.report.plotting import new_figure, strategy_colour


def critical_difference_figure(ranks: pd.Series, groups: Sequence[Sequence[str]],
                               strategies: Sequence[str], benchmarks: int) -> Figure:
    """Demšar's diagram: an axis of average ranks (1, the least regret, on the left), each
    strategy joined to its name (the better half named on the left, the rest on the right),
    and a thick bar under each group of strategies that no Holm-corrected Wilcoxon test tells
    apart (aggregate.cliques). ranks: aggregate.average_ranks."""
    k = len(ranks)
    half = math.ceil(k / 2)
    figure = new_figure(7.5, 1.4 + 0.32 * (half + len(groups)))
    axis = figure.add_subplot()
    axis.set_axis_off()
    low, high = 1.0, float(max(k, 2))
    axis.plot([low, high], [0, 0], color="black", linewidth=1)
    for tick in range(1, int(high) + 1):
        axis.plot([tick, tick], [0, 0.12], color="black", linewidth=1)
        axis.text(tick, 0.2, str(tick), ha="center", va="bottom", fontsize=9)
    # The groups' bars just under the axis, then the names' rows.
    for row, group in enumerate(groups):
        y = -0.25 - 0.22 * row
        axis.plot([ranks[group[0]] - 0.03, ranks[group[-1]] + 0.03], [y, y], color="black",
                  linewidth=3.5, solid_capstyle="round")
    top = -0.35 - 0.22 * len(groups)
    for index, (strategy, rank) in enumerate(ranks.items()):
        left = index < half
        row = index if left else k - 1 - index
        y = top - 0.4 * row
        end = low - 0.25 if left else high + 0.25
        colour = strategy_colour(strategy, strategies)
        axis.plot([rank, rank, end], [0, y, y], color=colour, linewidth=1.2)
        axis.plot([rank], [0], "o", color=colour, markersize=5)
        axis.text(end + (-0.05 if left else 0.05), y, f"{strategy} ({rank:.3g})",
                  ha="right" if left else "left", va="center", fontsize=9, color=colour)
    axis.set_xlim(low - 1.6, high + 1.6)
    axis.set_ylim(top - 0.4 * max(half - 1, 0) - 0.3, 0.55)
    axis.set_title(f"Average rank over {benchmarks} benchmark{'' if benchmarks == 1 else 's'} "
                   f"(1 = least mean normalised final regret); bars: not told apart",
                   fontsize=9)
    figure.tight_layout()
    return figure


def interval_figure(aggregate: pd.DataFrame, strategies: Sequence[str]) -> Figure:
    """Two panels, final normalised regret and its area under the curve: per strategy
    (aggregate.aggregate_table's rows, top to bottom) its IQM and 95 % interval."""
    figure = new_figure(8.0, 1.3 + 0.38 * max(len(aggregate), 1))
    y = np.arange(len(aggregate))[::-1].astype(float)
    panels = (("final", "IQM of final normalised regret"),
              ("auc", "IQM of the area under the normalised regret curve"))
    for index, (name, label) in enumerate(panels):
        axis = figure.add_subplot(1, 2, index + 1)
        for row, record in zip(y, aggregate.itertuples(), strict=True):
            colour = strategy_colour(record.strategy, strategies)
            point = getattr(record, f"iqm_{name}")
            low, high = getattr(record, f"iqm_{name}_low"), getattr(record, f"iqm_{name}_high")
            axis.plot([low, high], [row, row], color=colour, linewidth=5, alpha=0.45,
                      solid_capstyle="butt")
            axis.plot([point], [row], "|", color=colour, markersize=14, markeredgewidth=2)
        axis.set_yticks(y, labels=list(aggregate["strategy"]) if index == 0 else [])
        axis.set_xlabel(label, fontsize=9)
        axis.set_xlim(left=0)
        axis.grid(True, axis="x", alpha=0.3)
    figure.tight_layout()
    return figure

"""What every figure of the report shares: the Agg figure, strategy colours, labels and the
objective's colour scale."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

COLOURMAP = "viridis_r"  # low objective (better) = bright
_OTHER_COLOURS = ("tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")
OBJECTIVE_LABEL = "objective (lower is better)"
BEST_LABEL = "best objective so far (lower is better)"


def new_figure(width: float = 7.0, height: float = 4.5) -> Figure:
    """A figure on the Agg backend, without pyplot's global figure registry."""
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def render_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    # No Software/date metadata: the same data gives the same bytes.
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


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


def wide_positive(values) -> bool:
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
    if wide_positive(values):
        return LogNorm(low, high)
    if low == high:
        return Normalize(low - 0.5, high + 0.5)
    return Normalize(low, high)

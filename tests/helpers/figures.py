"""What a report figure drew, read back from the matplotlib Figure (tests/report/)."""

from __future__ import annotations

from matplotlib.collections import PathCollection


def scatter_points(axis) -> int:
    return sum(len(c.get_offsets()) for c in axis.collections if isinstance(c, PathCollection))


def main_axis(figure):
    return figure.axes[0]  # the others are colour bars


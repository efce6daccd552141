"""How each search-space parameter is drawn: scale, label, ticks and extent of its axis,
built from the space's `hpstudy.space.Parameter`s."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hpstudy.space import Parameter, SearchSpace


@dataclass(frozen=True)
class ParamAxis:
    """How one search-space parameter is drawn on an axis."""

    name: str
    label: str
    scale: str = "linear"  # "linear" or "log"
    complement: bool = False
    choices: tuple[Any, ...] = field(default=())
    bounds: tuple[float, float] | None = None  # the space's extent in plot coordinates

    @classmethod
    def from_parameter(cls, parameter: Parameter) -> ParamAxis:
        """A choice parameter on the index of its choices; a number on a log axis when it is
        drawn log-uniformly, else linear, over the space's [low, high]."""
        name = parameter.name
        if parameter.kind == "choice":
            return cls(name, name, choices=parameter.choices)
        bounds = None
        if parameter.low is not None and parameter.high is not None:
            # Plot coordinates of a complement parameter are 1 - value = the raw draw, so
            # the raw bounds are the plot bounds either way.
            bounds = (float(parameter.low), float(parameter.high))
        scale = "log" if parameter.is_log else "linear"
        if parameter.transform == "complement":
            # value = 1 - loguniform (the classic momentum). Drawn as 1 - value on a log axis:
            # that is the scale the sampler draws on, so the points spread evenly over its
            # decades (momentum 0.684..0.997 is 1 - momentum 3e-3..0.32, two decades), and
            # the good region, momentum close to 1, is stretched out instead of squeezed
            # against the top of an axis that spans less than a fifth of a decade.
            return cls(name, f"1 - {name}", scale=scale, complement=True, bounds=bounds)
        return cls(name, name, scale=scale, bounds=bounds)

    def coords(self, values) -> np.ndarray:
        """Plot coordinates of parameter values (choices: their index; complement parameters:
        1 - value, the sampler's raw draw)."""
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


def parameter_axes(space: SearchSpace | None,
                   table: pd.DataFrame | None = None) -> list[ParamAxis]:
    """One ParamAxis per search-space parameter, in the space's order. Without a space the
    parameters are the columns between `round` (or `trial`) and `objective` of trials.csv,
    all drawn on linear axes.
    """
    if space is None:
        if table is None:
            return []
        columns = list(table.columns)
        start = columns.index("round") + 1 if "round" in columns else columns.index("trial") + 1
        return [ParamAxis(name, name) for name in columns[start:columns.index("objective")]]
    return [ParamAxis.from_parameter(parameter) for parameter in space]

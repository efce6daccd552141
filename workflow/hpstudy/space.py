"""The search space written in config, and its translations for hyperopt and scikit-optimize.

Each parameter has a *raw* value (what the sampler draws) and a *value* (what the objective
receives). They differ for `choice` (raw = index into the choices) and for the `complement`
transform (value = 1 - raw: the classic momentum = 1 - loguniform). Samplers only ever see raw
values; `Parameter.to_value` / `to_raw` convert, so history can be fed back to any library.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

KINDS = ("loguniform", "uniform", "int", "choice")
TRANSFORMS = ("none", "complement")


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    transform: str = "none"
    grid: tuple[Any, ...] | int | None = None

    @classmethod
    def from_config(cls, name: str, spec: Mapping[str, Any]) -> Parameter:
        grid = spec.get("grid")
        if isinstance(grid, list):
            grid = tuple(grid)
        return cls(
            name=name,
            kind=spec["type"],
            low=spec.get("low"),
            high=spec.get("high"),
            choices=tuple(spec.get("choices", ())),
            transform=spec.get("transform", "none"),
            grid=grid,
        )

    @property
    def is_log(self) -> bool:
        return self.kind == "loguniform"

    def to_value(self, raw: Any) -> Any:
        """Sampler space -> objective space."""
        if self.kind == "choice":
            return self.choices[int(raw)]
        if self.kind == "int":
            # hyperopt's quniform yields floats; clip guards the rounding at the edges.
            return int(min(max(round(float(raw)), self.low), self.high))
        raw = float(raw)
        return 1.0 - raw if self.transform == "complement" else raw

    def to_raw(self, value: Any) -> Any:
        """Objective space -> sampler space (inverse of to_value)."""
        if self.kind == "choice":
            return self.choices.index(value)
        if self.kind == "int":
            return int(value)
        value = float(value)
        if self.transform == "complement":
            raw = 1.0 - value
            if self.contains(value):
                # 1 - (1 - raw) can round one ulp outside [low, high] (e.g. at raw = low,
                # where GP proposals often sit) and skopt then rejects the whole history.
                raw = float(min(max(raw, self.low), self.high))
            return raw
        return value

    def value_bounds(self) -> tuple[float, float]:
        """Bounds of the value the objective sees (after the transform)."""
        if self.transform == "complement":
            return 1.0 - self.high, 1.0 - self.low
        return self.low, self.high

    def contains(self, value: Any) -> bool:
        if self.kind == "choice":
            return value in self.choices
        if self.kind == "int":
            return isinstance(value, int) and self.low <= value <= self.high
        if not isinstance(value, float) or not math.isfinite(value):
            return False
        low, high = self.value_bounds()
        # The complement 1 - raw can round one ulp past the bound.
        slack = 1e-12 * max(1.0, abs(low), abs(high))
        return low - slack <= value <= high + slack

    def grid_point(self, point: Any) -> Any:
        """A grid point as written in YAML, typed as the values are (int 1 -> 1.0)."""
        numeric = isinstance(point, (int, float)) and not isinstance(point, bool)
        return float(point) if self.kind in ("loguniform", "uniform") and numeric else point

    def grid_values(self) -> list[Any]:
        """The grid points of this parameter, as objective values, in a stable order."""
        if isinstance(self.grid, tuple):
            if self.kind in ("loguniform", "uniform"):
                # YAML reads `grid: [0, 0.5]` with an int 0; real parameters take floats.
                return [float(value) for value in self.grid]
            return list(self.grid)
        count = int(self.grid)
        if self.kind == "choice":
            return list(self.choices[:count])
        if count == 1:
            raws = [math.sqrt(self.low * self.high) if self.is_log else (self.low + self.high) / 2]
        elif self.is_log:
            ratio = math.log(self.high / self.low)
            raws = [self.low * math.exp(ratio * i / (count - 1)) for i in range(count)]
        else:
            raws = [self.low + (self.high - self.low) * i / (count - 1) for i in range(count)]
        if self.kind == "int":
            return sorted({int(round(raw)) for raw in raws})
        return [self.to_value(raw) for raw in raws]


@dataclass(frozen=True)
class SearchSpace:
    parameters: tuple[Parameter, ...]

    @classmethod
    def from_config(cls, space: Mapping[str, Mapping[str, Any]]) -> SearchSpace:
        return cls(tuple(Parameter.from_config(name, spec) for name, spec in space.items()))

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def __iter__(self):
        return iter(self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(name)

    def to_values(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return {p.name: p.to_value(raw[p.name]) for p in self.parameters}

    def to_raws(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {p.name: p.to_raw(values[p.name]) for p in self.parameters}

    def contains(self, values: Mapping[str, Any]) -> bool:
        return set(values) == set(self.names) and all(
            p.contains(values[p.name]) for p in self.parameters
        )

    def grid(self) -> list[dict[str, Any]]:
        """Cartesian product of the per-parameter grid points, first parameter slowest."""
        axes = [p.grid_values() for p in self.parameters]
        return [dict(zip(self.names, combo, strict=True)) for combo in itertools.product(*axes)]

    def grid_size(self) -> int:
        return math.prod(len(p.grid_values()) for p in self.parameters)

    # --- library translations (imports kept local: the Snakefile imports this module) ---

    def hyperopt_space(self) -> dict[str, Any]:
        """Raw hyperopt space: one label per parameter, transforms applied by to_value."""
        from hyperopt import hp

        space = {}
        for p in self.parameters:
            if p.kind == "loguniform":
                space[p.name] = hp.loguniform(p.name, math.log(p.low), math.log(p.high))
            elif p.kind == "uniform":
                space[p.name] = hp.uniform(p.name, p.low, p.high)
            elif p.kind == "int":
                # Widen by half a step so that both end points are as likely as the rest.
                space[p.name] = hp.quniform(p.name, p.low - 0.5, p.high + 0.5, 1)
            else:
                space[p.name] = hp.choice(p.name, list(range(len(p.choices))))
        return space

    def skopt_dimensions(self) -> list[Any]:
        from skopt.space import Categorical, Integer, Real

        dimensions = []
        for p in self.parameters:
            if p.kind == "loguniform":
                dimensions.append(Real(p.low, p.high, prior="log-uniform", name=p.name))
            elif p.kind == "uniform":
                dimensions.append(Real(p.low, p.high, prior="uniform", name=p.name))
            elif p.kind == "int":
                dimensions.append(Integer(int(p.low), int(p.high), name=p.name))
            else:
                dimensions.append(Categorical(list(range(len(p.choices))), name=p.name))
        return dimensions


def fixed_settings(settings: Mapping[str, Any], space: Mapping[str, Any]) -> dict[str, Any]:
    """An objective's fixed settings: its block less every parameter the space searches (a
    searched setting's value in the block is only the default the search overrides). The
    report's setup row and the MLflow experiment's description both state these."""
    return {key: value for key, value in settings.items() if key not in space}


def plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, for JSON and for exact comparisons."""
    if hasattr(value, "item"):
        return value.item()
    return value


def canonical_params(space: SearchSpace, raw: Sequence[Any] | Mapping[str, Any]) -> dict:
    """Objective values from a raw point given as a mapping or in parameter order."""
    if not isinstance(raw, Mapping):
        raw = dict(zip(space.names, raw, strict=True))
    return {p.name: plain(p.to_value(plain(raw[p.name]))) for p in space.parameters}

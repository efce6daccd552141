"""The search space written in config: its checks (space_errors), its parameters and their
values, and the domains of the settings they set (Domain). Each strategy translates it for its
own library (hyperopt: strategies._hyperopt_history; scikit-optimize: strategies.gp; Optuna:
strategies._optuna_history).

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


def space_errors(space_config: Mapping[str, Mapping[str, Any]], grid_needed: bool) -> list[str]:
    """What the config schema cannot say of a `space:` block (it checked shape and types):
    each parameter's keys for its type, its range and transform, then, once all of those are
    right, its grid points (grid_needed: the grid strategy runs). One message per problem,
    naming the key; what the objective's settings accept is Objective.check's."""
    errors = []
    for name, spec in space_config.items():
        errors += _range_errors(f"space.{name}", spec)
        if not errors:  # the grid's points are read with the range
            errors += _grid_errors(name, spec, grid_needed)
    return errors


def _range_errors(key: str, spec: Mapping[str, Any]) -> list[str]:
    kind, errors = spec["type"], []
    if kind == "choice":
        if "choices" not in spec:
            errors.append(f"{key}: type choice needs 'choices'")
        errors += [f"{key}.{extra}: not used by type choice (use 'choices')"
                   for extra in ("low", "high") if extra in spec]
        if spec.get("transform", "none") != "none":
            errors.append(f"{key}.transform: only loguniform and uniform can be transformed")
        return errors
    if "choices" in spec:
        errors.append(f"{key}.choices: only type choice takes choices")
    missing = [bound for bound in ("low", "high") if bound not in spec]
    if missing:
        return [*errors, f"{key}: type {kind} needs {' and '.join(missing)}"]
    low, high = spec["low"], spec["high"]
    if not low < high:
        errors.append(f"{key}: empty or reversed range: low={low!r} must be < high={high!r}")
    if kind == "loguniform" and low <= 0:
        errors.append(f"{key}.low: loguniform needs low > 0, got {low!r}")
    if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
        errors.append(f"{key}: type int needs integer low and high, got {low!r}, {high!r}")
    if spec.get("transform") == "complement":
        if kind == "int":
            errors.append(f"{key}.transform: only loguniform and uniform can be transformed")
        elif low < 0 or high > 1:
            errors.append(f"{key}: the complement transform (value = 1 - x) needs 0 <= low < "
                          f"high <= 1, got low={low!r}, high={high!r}")
    return errors


def _grid_errors(name: str, spec: Mapping[str, Any], grid_needed: bool) -> list[str]:
    key = f"space.{name}"
    if grid_needed and "grid" not in spec:
        return [f"{key}.grid: the grid strategy needs grid points for every parameter (a list "
                f"of values, or a number of points)"]
    if not isinstance(spec.get("grid"), list):
        return []
    parameter = Parameter.from_config(name, spec)
    outside = [point for point in spec["grid"]
               if not parameter.contains(parameter.grid_point(point))]
    if not outside:
        return []
    if parameter.kind == "choice":
        allowed = f"choices {list(parameter.choices)}"
    else:
        low, high = parameter.value_bounds()
        allowed = f"[{low!r}, {high!r}]"
    return [f"{key}.grid: point(s) {outside} outside the parameter's values {allowed}"]


@dataclass(frozen=True)
class Domain:
    """The values a setting of an objective accepts (Objective.tunable), which a searched
    parameter's values must stay inside: numbers from `low` to `high` (an end excluded when
    open; integers only when `integer`), or, when `values` is given, exactly those."""

    low: float = -math.inf
    high: float = math.inf
    open_low: bool = False
    open_high: bool = False
    integer: bool = False
    values: tuple[Any, ...] = ()

    def __str__(self) -> str:
        if self.values:
            return "{" + ", ".join(map(repr, self.values)) + "}"
        if self.integer:
            return f"integers >= {self.low:g}" if self.high == math.inf else \
                f"integers in [{self.low:g}, {self.high:g}]"
        return (f"{'(' if self.open_low or self.low == -math.inf else '['}{self.low:g}, "
                f"{self.high:g}{')' if self.open_high or self.high == math.inf else ']'}")

    def holds(self, value: Any) -> bool:
        if self.values:
            return value in self.values
        number = (int,) if self.integer else (int, float)
        if not isinstance(value, number) or isinstance(value, bool):
            return False
        return ((self.low < value if self.open_low else self.low <= value)
                and (value < self.high if self.open_high else value <= self.high))

    def outside(self, parameter: Parameter) -> str | None:
        """The values of `parameter` (as the objective receives them) that this domain does
        not hold, in words ("values up to 1.5"), or None when it holds them all."""
        if parameter.kind == "choice":
            outside = [choice for choice in parameter.choices if not self.holds(choice)]
            return f"choices {outside}" if outside else None
        if self.values:
            return f"the numbers of type {parameter.kind}"
        if self.integer and parameter.kind != "int":
            return f"the non-integer values of type {parameter.kind}"
        low, high = parameter.value_bounds()
        # An int range's ends may be YAML floats (8.0); its values are ints all the same.
        if parameter.kind == "int":
            low, high = int(low), int(high)
        ends = [f"down to {low!r}"] if not self.holds(low) else []
        ends += [f"up to {high!r}"] if not self.holds(high) else []
        return f"values {' and '.join(ends)}" if ends else None


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

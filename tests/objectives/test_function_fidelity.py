"""The multi-fidelity test functions (hpstudy.objectives.function): the published forms and
cost models, checked against an independent implementation's numbers, their config, and
successive halving and Hyperband running on them without checkpoints (one job per study, as
the benchmark suite runs them, and one job per trial)."""

from __future__ import annotations

import copy
import math

import pandas as pd
import pytest

from hpstudy.config import ConfigError, resolve
from hpstudy.objectives.function import (
    FUNCTIONS,
    OBJECTIVE,
    at_fidelity,
    cost,
)
from tests.helpers.tracking import mlflow_runs
from tests.helpers.workdir import Workdir, load_config

# mfhpo-benchmark-api 2.2.2 (MFBranin, MFHartmann with fidel_dim 1, deterministic=True,
# min_fidel 1, max_fidel 81, runtime_factor 1), run once on 2026-12-04: (point, budget) ->
# (loss, runtime). Its Branin takes the unit square (x = 15 u - 5, y = 15 v); the points
# below are already mapped. An implementation written apart from ours, from the same paper.
REFERENCE = {
    "branin": [
        ((-2.0, 10.5), 1, 7.100445788373963, 0.05130315500685871),
        ((-2.0, 10.5), 9, 7.0497816383021, 0.08518518518518518),
        ((-2.0, 10.5), 27, 6.9398959426157205, 0.23282758524338149),
        ((-2.0, 10.5), 81, 6.644372188889907, 1.0),
        ((2.5, 1.5), 1, 4.638223874142829, 0.05130315500685871),
        ((2.5, 1.5), 27, 4.44678186025023, 0.23282758524338149),
        ((8.5, 14.25), 9, 156.30604560137147, 0.08518518518518518),
        ((8.5, 14.25), 81, 159.0872186645191, 1.0),
    ],
    "hartmann3": [
        ((0.2, 0.3, 0.4), 1, -0.41438365685531003, 0.10374999294371341),
        ((0.2, 0.3, 0.4), 9, -0.4185048431724825, 0.1374485596707819),
        ((0.2, 0.3, 0.4), 27, -0.4277775123861206, 0.24444444444444444),
        ((0.2, 0.3, 0.4), 81, -0.4555955200270349, 1.0),
    ],
    "hartmann6": [
        ((0.2, 0.3, 0.4, 0.5, 0.6, 0.7), 1, -0.5759255245059284, 0.10559027248556284),
        ((0.2, 0.3, 0.4, 0.5, 0.6, 0.7), 9, -0.5793591817886181, 0.15308641975308643),
        ((0.2, 0.3, 0.4, 0.5, 0.6, 0.7), 27, -0.58708491067467, 0.2833333333333333),
        ((0.2, 0.3, 0.4, 0.5, 0.6, 0.7), 81, -0.6102620973328255, 1.0),
    ],
}
CASES = [(name, *case) for name, cases in REFERENCE.items() for case in cases]


@pytest.mark.parametrize("name, point, budget, loss, runtime", CASES)
def test_the_biased_functions_and_their_costs_are_the_published_ones(name, point, budget,
                                                                     loss, runtime):
    z = budget / 81
    assert at_fidelity(name, z, point) == pytest.approx(loss, rel=1e-12, abs=1e-12)
    assert cost(name, z) == pytest.approx(runtime, rel=1e-12)


@pytest.mark.parametrize("name", ["branin", "hartmann3", "hartmann6"])
def test_the_full_fidelity_is_the_function_itself_and_lower_ones_cost_less(name):
    arguments = (0.3, 0.6, 0.1, 0.9, 0.5, 0.2)[:len(REFERENCE[name][0][0])]
    if name == "branin":
        arguments = (-3.0, 11.0)
    assert at_fidelity(name, 1.0, arguments) == FUNCTIONS[name](*arguments)
    assert cost(name, 1.0) == pytest.approx(1.0)
    costs = [cost(name, budget / 81) for budget in (1, 3, 9, 27, 81)]
    assert costs == sorted(costs) and costs[0] < 0.11


def test_a_fold_at_a_budget_records_its_cost_in_budget_units():
    settings = {"name": "branin", "noise_std": 0.0, "budget": 9, "max_budget": 81}
    record = OBJECTIVE.evaluate_fold(settings, {"x": -2.0, "y": 10.5}, 0, 5, None)
    assert record["metrics"]["value"] == pytest.approx(7.0497816383021, rel=1e-12)
    assert record["epochs_run"] == 9
    assert record["resource"] == pytest.approx(0.08518518518518518 * 81)
    # The held-out test and the regret are on the function itself (z = 1).
    test = OBJECTIVE.evaluate_test(settings, {"x": -2.0, "y": 10.5}, 5, None)
    assert test["test_objective"] == FUNCTIONS["branin"](-2.0, 10.5)
    plain = {"name": "branin", "noise_std": 0.0, "budget": None, "max_budget": 81}
    assert "resource" not in OBJECTIVE.evaluate_fold(plain, {"x": 1.0, "y": 2.0}, 0, 5, None)


# --- config --------------------------------------------------------------------------------

def function_config(function: dict, **strategies) -> dict:
    config = copy.deepcopy(load_config("branin"))
    config["objective"]["function"] = function
    config["strategies"] = strategies
    return config


@pytest.mark.parametrize("function, strategies, words", [
    ({"name": "beale", "budget": 9}, {"random": {"budget": 3}},
     ["objective.function.budget", "beale has no published multi-fidelity", "hartmann3"]),
    ({"name": "branin", "budget": 90}, {"random": {"budget": 3}},
     ["objective.function.budget", "90 > max_budget 81"]),
    ({"name": "branin"}, {"sha": {}}, ["objective.function.budget: required by strategies.sha"]),
])
def test_config_errors_name_the_key(function, strategies, words):
    with pytest.raises(ConfigError) as caught:
        resolve(function_config(function, **strategies))
    for word in words:
        assert word in str(caught.value)


@pytest.mark.parametrize("fold_jobs", ["per_round", "per_study", "per_trial"])
def test_halving_on_a_function_may_run_a_study_in_one_job(fold_jobs):
    """No checkpoints to continue from: every job layout can run it."""
    config = function_config({"name": "hartmann3", "budget": 27},
                             hyperband={"eta": 3}, random={"budget": 4})
    config["space"] = {f"x{i}": {"type": "uniform", "low": 0, "high": 1} for i in (1, 2, 3)}
    config["execution"] = {"fold_jobs": fold_jobs}
    resolved = resolve(config)
    assert resolved["strategies"]["hyperband"]["max_resource"] == 27
    assert resolved["objective"]["function"]["max_budget"] is None  # 81
    assert OBJECTIVE.describe(resolved["objective"]["function"]) \
        == "multi-fidelity test function hartmann3"


# --- whole studies -------------------------------------------------------------------------

def study_config(fold_jobs: str) -> dict:
    """Branin at budgets 1..9 of 9 (eta 3): SHA 9 configs at 1, 3 at 3, 1 at 9; Hyperband
    (one job per study only: a job per trial costs seconds each) adds the brackets of 5 at 3
    and 3 at 9; random search beside them at the full budget."""
    strategies = {"random": {"budget": 4}, "sha": {"eta": 3}}
    if fold_jobs == "per_study":
        strategies["hyperband"] = {"eta": 3}
    config = function_config({"name": "branin", "noise_std": 0.5, "budget": 9,
                              "max_budget": 9}, **strategies)
    config["experiment"] = f"test-function-fidelity-{fold_jobs}"
    config["execution"] = {"fold_jobs": fold_jobs}
    return config


@pytest.mark.e2e
@pytest.mark.parametrize("fold_jobs", ["per_study", "per_trial"])
def test_halving_runs_on_a_multi_fidelity_function(tmp_path, fold_jobs):
    run = Workdir(tmp_path)
    run.write_config(study_config(fold_jobs))
    run.snakemake("--cores", "2")
    sha = pd.read_csv(run.results / "sha" / "trials.csv")
    assert sha.groupby("rung")["fidelity"].agg(["count", "max"]).values.tolist() \
        == [[9, 1], [3, 3], [1, 9]]
    # Each fold costs the cost model's share of a full evaluation (9 units), 2 folds.
    for fidelity, resource in sha.groupby("fidelity")["resource"].first().items():
        assert resource == pytest.approx(2 * 9 * (0.05 + 0.95 * (fidelity / 9) ** 1.5))
    # A promoted trial is its parent's configuration evaluated anew at the higher budget.
    for row in sha[sha["rung"] > 0].itertuples():
        below = sha[(sha["rung"] == row.rung - 1)].sort_values(["objective", "trial"])
        assert (row.x, row.y) in set(zip(below["x"], below["y"], strict=True))
    random = pd.read_csv(run.results / "random" / "trials.csv")
    assert random["resource"].tolist() == [18.0] * 4  # the full budget, 2 folds
    comparison = pd.read_csv(run.results / "report" / "comparison.csv").set_index("strategy")
    assert comparison.loc["random", "resource"] == 72
    assert math.isfinite(comparison.loc[comparison.index[-1], "best_objective"])
    assert not list(run.results.rglob("*.keras")) and not list(run.results.rglob("fold_*.zip"))
    # One MLflow run per configuration across its rungs, whichever job logs it (per_study:
    # one job logs every round), its objective at each fidelity it reached.
    client, runs = mlflow_runs(f"sqlite:///{run.results / 'mlflow.db'}",
                               f"test-function-fidelity-{fold_jobs}")
    keys = [r.data.tags["hpstudy.key"] for r in runs]
    assert len(keys) == len(set(keys))
    sha_runs = [r for r in runs if r.data.tags.get("role") == "trial"
                and r.data.tags["strategy"] == "sha"]
    assert len(sha_runs) == 9
    best = next(r for r in sha_runs if r.data.tags["rung"] == "2")
    steps = [m.step for m in client.get_metric_history(best.info.run_id, "objective")]
    assert sorted(steps) == [1, 3, 9]

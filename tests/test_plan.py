"""The study plan (hpstudy.plan): studies, rounds, seeds and resources follow from the config
and from what each strategy and objective module declares."""

from __future__ import annotations

import pytest

from hpstudy.plan import Plan
from hpstudy.strategies import registry
from hpstudy.strategies.random_search import RandomSearch

BRANIN = {
    "experiment": "plan", "seed": 3, "dataset": {"name": "digits"}, "cv": {"folds": 2},
    "objective": {"name": "function"},
    "space": {"x": {"type": "uniform", "low": -5.0, "high": 10.0, "grid": 2},
              "y": {"type": "uniform", "low": 0.0, "high": 15.0, "grid": 3}},
}


class GrowingRounds(RandomSearch):
    """Rounds of 1, 2, 4, ... trials: a strategy that plans rounds of varying size."""

    @classmethod
    def plan_rounds(cls, budget, settings):
        rounds, start, size = [], 0, 1
        while start < budget:
            rounds.append(list(range(start, min(start + size, budget))))
            start, size = start + size, size * 2
        return rounds


def test_a_strategy_plans_rounds_of_varying_size(monkeypatch):
    monkeypatch.setitem(registry(), "random", GrowingRounds)
    plan = Plan.from_config({**BRANIN, "strategies": {"random": {"budget": 7}}})
    assert plan.rounds("random") == [[0], [1, 2], [3, 4, 5, 6]]
    assert [plan.round_of("random", t) for t in range(7)] == [0, 1, 1, 2, 2, 2, 2]


def test_budgets_rounds_and_repeats_come_from_the_strategy_classes():
    plan = Plan.from_config({**BRANIN, "repeats": 2, "strategies": {
        "grid": {}, "sobol": {"budget": 5}, "tpe": {"budget": 5, "batch_size": 2,
                                                    "n_startup_jobs": 2}}})
    assert plan.budget("grid") == 6  # the grid's size
    assert plan.rounds("sobol") == [[0, 1, 2, 3, 4]]  # not adaptive: one round
    assert plan.rounds("tpe") == [[0, 1], [2, 3], [4]]
    # Grid is not stochastic: nothing to repeat.
    assert plan.studies == ["grid", "sobol", "tpe", "sobol-repeat1", "tpe-repeat1"]
    assert plan.study_seed("tpe") == 3 and plan.study_seed("tpe-repeat1") != 3


def test_resources_and_imports_come_from_the_objective():
    function = Plan.from_config({**BRANIN, "strategies": {"random": {}}})
    assert function.resources("train")["threads"] == 1 and not function.needs_data
    assert "tensorflow" not in function.job_modules
    cnn = Plan.from_config({
        **BRANIN, "objective": {"name": "cnn", "cnn": {"threads": 2, "device": "gpu"}},
        "space": {"learning_rate": {"type": "loguniform", "low": 1.0e-3, "high": 0.1}},
        "strategies": {"gp": {"budget": 6}}})
    assert cnn.resources("train")["threads"] == 2 and cnn.resources("train")["gpu"] == 1
    assert cnn.resources("propose")["threads"] == 1 and cnn.resources("propose")["gpu"] == 0
    assert cnn.needs_data
    assert {"tensorflow", "keras", "skopt", "hpstudy.objectives.cnn"} <= set(cnn.job_modules)
    # The user's function, by its entry: the warm worker imports it once per run.
    entry = "tests.helpers.user_functions:quadratic"
    python = Plan.from_config({
        **BRANIN, "objective": {"name": "python", "python": {"entry": entry}},
        "strategies": {"random": {}}})
    assert python.job_modules[-1] == entry


def test_an_unconfigured_strategy_is_named():
    plan = Plan.from_config({**BRANIN, "strategies": {"random": {}}})
    with pytest.raises(ValueError, match="'tpe' is not in config.strategies"):
        plan.rounds("tpe")

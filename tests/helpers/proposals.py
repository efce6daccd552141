"""Strategies as the strategy tests make them: on a space with every kind of parameter, with
small start-up phases, a history of finished trials on a toy objective, and what a valid
proposal is (tests/strategies/)."""

from __future__ import annotations

import functools
import math

from hpstudy.config import strategy_defaults
from hpstudy.space import SearchSpace
from hpstudy.strategies import Observation, make_strategy, strategy_class
from tests.helpers.spaces import ALL_KINDS_SPACE

SEED = 7

# Every kind of parameter, each with grid points so that grid search runs on it too.
SPACE_CONFIG = ALL_KINDS_SPACE
SPACE = SearchSpace.from_config(SPACE_CONFIG)

# Small start-up phases, so that a few trials of history already reach the model.
SMALL = {"tpe": {"n_startup_jobs": 3}, "gp": {"n_initial_points": 3}}

# A fresh interpreter's BLAS and OpenMP with one thread, as one_blas_thread
# (tests/strategies/conftest.py) here.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

# What config fills in for a multi-fidelity strategy (max_resource: the objective's epochs).
FIDELITY = {"max_resource": 9}


def settings(name: str, **overrides) -> dict:
    filled = FIDELITY if strategy_class(name).multi_fidelity else {}
    return {**strategy_defaults(name), **filled, **SMALL.get(name, {}), **overrides}


def strategy(name: str, seed: int = SEED, space: SearchSpace = SPACE, **overrides):
    return make_strategy(name, space, settings(name, **overrides), seed)


def toy_objective(params: dict) -> float:
    """Smooth in every parameter; best near lr 1e-2, momentum 0.9, adam."""
    return ((math.log10(params["learning_rate"]) + 2.0) ** 2
            + (math.log10(1.0 - params["momentum"]) + 1.0) ** 2
            + (params["dropout"] - 0.2) ** 2
            + ((params["filters"] - 32) / 32) ** 2
            + {"sgd": 0.5, "adam": 0.0, "rmsprop": 0.3}[params["optimizer"]])


@functools.cache
def history(n: int) -> tuple[Observation, ...]:
    """n finished trials (ids 0..n-1) at fixed random points of SPACE."""
    points = strategy("random", seed=12345).propose(list(range(n)), [])
    return tuple(Observation(t, p, toy_objective(p)) for t, p in enumerate(points))


def with_status(observations, changes: dict[int, tuple[str, float | None]]):
    """A copy of the history with some trials turned diverged/failed (status, objective)."""
    return tuple(Observation(o.trial, o.params, *changes[o.trial][::-1]) if o.trial in changes
                 else o for o in observations)


# 8 trials: 2 diverged without a value, 1 failed, 1 diverged with a finite penalty.
MIXED = with_status(history(8), {1: ("diverged", None), 3: ("failed", None),
                                 4: ("diverged", 1e6), 6: ("diverged", None)})


def key(params: dict) -> tuple:
    return tuple(params[name] for name in SPACE.names)


def assert_valid(proposals: list[dict], count: int, space: SearchSpace = SPACE) -> None:
    assert len(proposals) == count
    for params in proposals:
        assert list(params) == space.names
        assert space.contains(params), params
        for parameter in space:
            value = params[parameter.name]
            if parameter.kind == "choice":
                assert value in parameter.choices
                assert type(value) is type(parameter.choices[parameter.choices.index(value)])
            elif parameter.kind == "int":
                assert type(value) is int, (parameter.name, value)
            else:
                assert type(value) is float, (parameter.name, value)
            if parameter.transform == "complement":
                assert 1.0 - parameter.high <= value <= 1.0 - parameter.low

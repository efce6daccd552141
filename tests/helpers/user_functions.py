"""Functions as a user writes them for `objective.name: python` (tests/objectives/
test_python.py, and the objectives' conformance suite): each entry is
`tests/helpers/user_functions.py:<name>` or `tests.helpers.user_functions:<name>`."""

from __future__ import annotations

import math

import numpy as np


def quadratic(params):
    """(x - 1)^2: a number, minimised."""
    return (params["x"] - 1.0) ** 2


def noisy_quadratic(params, fold, seed):
    """A dict of metrics: `loss` (the quadratic plus noise from the fold's seed) and the
    fold."""
    noise = float(np.random.default_rng(seed).normal(scale=0.1))
    return {"loss": (params["x"] - 1.0) ** 2 + noise, "fold": fold}


def accuracy(params):
    """A score to maximise: highest at x = 1."""
    return {"accuracy": 1.0 / (1.0 + (params["x"] - 1.0) ** 2)}


def diverges(params):
    """NaN past x = 2, as a fit whose loss blew up."""
    return math.nan if params["x"] > 2 else params["x"]


def raises(params):
    """Fails at x < 0, as a fit that cannot work with those params."""
    if params["x"] < 0:
        raise ValueError(f"x = {params['x']} must not be negative")
    return params["x"]


def with_everything(params, fold, seed, data, budget, report):
    """Every argument: it reports `loss` per step, `budget` steps, and returns what it got."""
    for step in range(budget or 0):
        report(step, loss=1.0 / (step + 1), step_seed=seed % 7)
    return {"objective": params["x"], "fold": -1 if fold is None else fold, "seed": seed,
            "examples": 0 if data is None else len(data.y_train),
            "budget": 0 if budget is None else budget}


def mean_pixel(params, data):
    """Reads the fold's arrays: the share of validation examples of class 0, plus x."""
    return float(np.mean(data.y_val == 0)) + params["x"]


def seed_only(seed):
    """Takes no params: a space has nothing to set in it."""
    return seed % 10


def budgeted(params, budget):
    """The budget lowers the value (a longer fit, a lower loss)."""
    return (params["x"] - 1.0) ** 2 + 1.0 / budget


def resumable(params, budget, checkpoint):
    """Trains on from the steps its checkpoint directory says were done (a promoted trial's
    holds its parent's), and says there how far it got."""
    state = checkpoint / "state" / "steps.txt"
    done = int(state.read_text()) if state.is_file() else 0
    state.parent.mkdir(exist_ok=True)
    state.write_text(str(budget))
    return {"objective": (params["x"] - 1.0) ** 2 + 1.0 / budget, "resumed_from": done}


def unknown_argument(params, epochs):
    """An argument the objective cannot give."""
    return params["x"] * epochs

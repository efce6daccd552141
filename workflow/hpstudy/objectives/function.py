"""Analytic test functions over the same search-space machinery (no TensorFlow).

They let the whole DAG run in seconds, and they have known minima, so they show whether an
adaptive strategy really beats random search. Parameters are passed positionally, in the
space's order. `noise_std` adds Gaussian noise per fold (seeded), like a CV score's noise.
"""

from __future__ import annotations

import math
import statistics

import numpy as np

from hpstudy.objectives.base import Objective, trial_status


def branin(x: float, y: float) -> float:
    """Branin-Hoo on x in [-5, 10], y in [0, 15]; minimum 0.397887 at three points."""
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return (y - b * x**2 + c * x - r) ** 2 + s * (1 - t) * math.cos(x) + s


def beale(x: float, y: float) -> float:
    """Beale on [-4.5, 4.5]^2; minimum 0 at (3, 0.5), flat valleys elsewhere."""
    return ((1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2
            + (2.625 - x + x * y**3) ** 2)


FUNCTIONS = {"branin": branin, "beale": beale}


def evaluate_fold(settings, params, fold, seed, data=None, threads=1) -> dict:
    function = FUNCTIONS[settings["name"]]
    value = function(*(float(v) for v in params.values()))
    if settings["noise_std"]:
        value += settings["noise_std"] * float(np.random.default_rng(seed).standard_normal())
    status = "ok" if math.isfinite(value) else "diverged"
    return {
        "status": status,
        "metrics": {"value": value if status == "ok" else None},
        "history": {},
        "epochs_run": 0,
        "fit_seconds": 0.0,
        "fit_cpu_seconds": 0.0,
    }


def evaluate_test(settings, params, seed, data=None, threads=1) -> dict:
    """The held-out "test" of a test function: its exact value, without the CV noise."""
    value = FUNCTIONS[settings["name"]](*(float(v) for v in params.values()))
    status = "ok" if math.isfinite(value) else "diverged"
    return {"status": status, "test_objective": value if status == "ok" else None,
            "metrics": {"value": value if status == "ok" else None}, "fit_seconds": 0.0}


def score_trial(settings, fold_records) -> dict:
    status = trial_status(fold_records)
    values = [record["metrics"]["value"] for record in fold_records]
    metrics = {f"fold_{record['fold']}_value": record["metrics"]["value"]
               for record in fold_records}
    if status != "ok":
        return {"status": status, "objective": None, "metrics": metrics}
    metrics["value_mean"] = statistics.fmean(values)
    metrics["value_std"] = statistics.pstdev(values)
    return {"status": status, "objective": metrics["value_mean"], "metrics": metrics}


class TestFunction(Objective):
    """objective.function: `name` (branin, beale) of the space's two numeric parameters."""

    name = "function"
    label = "test function"
    tunable = None  # the space's two parameters are the function's x and y, in order

    @classmethod
    def check(cls, settings, space):
        numeric = [p.name for p in space if p.kind != "choice"]
        if len(space.parameters) != 2 or len(numeric) != 2:
            return [f"space: the function objective ({settings['name']}) takes exactly 2 "
                    f"numeric parameters (x, y in order), got {space.names}"]
        return []

    @classmethod
    def evaluate_fold(cls, settings, params, fold, seed, data=None, threads=1):
        return evaluate_fold(settings, params, fold, seed, data, threads)

    @classmethod
    def score_trial(cls, settings, fold_records):
        return score_trial(settings, fold_records)

    @classmethod
    def evaluate_test(cls, settings, params, seed, data=None, threads=1):
        return evaluate_test(settings, params, seed, data, threads)


OBJECTIVE = TestFunction

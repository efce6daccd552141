"""Analytic test functions over the same search-space machinery (no TensorFlow).

They let the whole DAG run in seconds, and they have known minima, so they show whether an
adaptive strategy really beats random search. Parameters are passed positionally, in the
space's order. `noise_std` adds Gaussian noise per fold (seeded), like a CV score's noise.

With `budget` set, Branin and Hartmann are their multi-fidelity versions (Kandasamy et al.
2017, "Multi-fidelity Bayesian optimisation with continuous approximations", ICML, p. 18 of
arXiv:1703.06240; the forms of its authors' Dragonfly demos, with one fidelity axis z for
every fidelity coordinate, as mfhpo-benchmark-api 2.2.2 writes them): at z = budget /
max_budget in (0, 1] the function is biased, z = 1 is the function itself, and an evaluation
costs lambda(z) of a full one. Successive halving, Hyperband and BOHB lower `budget` per
rung; a promoted trial is evaluated anew at its higher budget (no checkpoint: `continues`
is False) and pays that budget's whole cost, as in the published cost models.
"""

from __future__ import annotations

import inspect
import math
import statistics

import numpy as np

from hpstudy.objectives.base import Objective
from hpstudy.outcome import trial_status


def branin(x: float, y: float) -> float:
    """Branin-Hoo on x in [-5, 10], y in [0, 15]; minimum 0.397887 at three points."""
    return branin_at(1.0, x, y)  # unbiased: the same floating-point operations


def beale(x: float, y: float) -> float:
    """Beale on [-4.5, 4.5]^2; minimum 0 at (3, 0.5), flat valleys elsewhere."""
    return ((1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2
            + (2.625 - x + x * y**3) ** 2)


# Hartmann's functions (Hartmann 1973; the constants as in Dixon & Szegö 1978 and the
# standard Bayesian-optimisation test-function definitions, e.g. Surjanovic & Bingham's
# Virtual Library of Simulation Experiments, sfu.ca/~ssurjano/hart3.html and hart6.html):
#   f(x) = -sum_i alpha_i exp(-sum_j A_ij (x_j - P_ij)^2)  on [0, 1]^d,
# four Gaussian-like wells (several local minima, one global): a harder, higher-dimensional
# check than Branin and Beale. P is published as integers x 1e-4.
HARTMANN_ALPHA = (1.0, 1.2, 3.0, 3.2)
HARTMANN3_A = ((3.0, 10.0, 30.0),
               (0.1, 10.0, 35.0),
               (3.0, 10.0, 30.0),
               (0.1, 10.0, 35.0))
HARTMANN3_P = tuple(tuple(1e-4 * p for p in row) for row in (
    (3689, 1170, 2673),
    (4699, 4387, 7470),
    (1091, 8732, 5547),
    (381, 5743, 8828)))
HARTMANN6_A = ((10.0, 3.0, 17.0, 3.5, 1.7, 8.0),
               (0.05, 10.0, 17.0, 0.1, 8.0, 14.0),
               (3.0, 3.5, 1.7, 10.0, 17.0, 8.0),
               (17.0, 8.0, 0.05, 10.0, 0.1, 14.0))
HARTMANN6_P = tuple(tuple(1e-4 * p for p in row) for row in (
    (1312, 1696, 5569, 124, 8283, 5886),
    (2329, 4135, 8307, 3736, 1004, 9991),
    (2348, 1451, 3522, 2883, 3047, 6650),
    (4047, 8828, 8732, 5743, 1091, 381)))


def _hartmann(x: tuple[float, ...], a, p, bias: float = 0.0) -> float:
    """bias: what the multi-fidelity version takes off every well's weight (0.1 (1 - z))."""
    return -sum((alpha - bias) * math.exp(-sum(a_ij * (x_j - p_ij) ** 2
                                               for a_ij, x_j, p_ij in zip(a_i, x, p_i,
                                                                          strict=True)))
                for alpha, a_i, p_i in zip(HARTMANN_ALPHA, a, p, strict=True))


def hartmann3(x1: float, x2: float, x3: float) -> float:
    """Hartmann-3 on [0, 1]^3; minimum -3.86278 at (0.114614, 0.555649, 0.852547)."""
    return _hartmann((x1, x2, x3), HARTMANN3_A, HARTMANN3_P)


def hartmann6(x1: float, x2: float, x3: float, x4: float, x5: float, x6: float) -> float:
    """Hartmann-6 on [0, 1]^6; minimum -3.32237 at
    (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)."""
    return _hartmann((x1, x2, x3, x4, x5, x6), HARTMANN6_A, HARTMANN6_P)


FUNCTIONS = {"branin": branin, "beale": beale, "hartmann3": hartmann3,
             "hartmann6": hartmann6}
# Each function's published global minimum and where it lies (the docstrings' sources): the
# zero of a study's regret, when one of the minimisers is inside the study's space.
MINIMA = {
    "branin": (0.397887, ((-math.pi, 12.275), (math.pi, 2.275), (9.42478, 2.475))),
    "beale": (0.0, ((3.0, 0.5),)),
    "hartmann3": (-3.86278, ((0.114614, 0.555649, 0.852547),)),
    "hartmann6": (-3.32237, ((0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573),)),
}
# Each function's arguments, in order: what the space's parameters are, positionally.
ARGUMENTS = {name: tuple(inspect.signature(function).parameters)
             for name, function in FUNCTIONS.items()}


# --- multi-fidelity versions -------------------------------------------------------------
# Branin's b, c and t move with the fidelity z: b - 0.01 (1 - z), c - 0.1 (1 - z),
# t + 0.005 (1 - z); its cost is 0.05 + 0.95 z^1.5. Hartmann's well weights alpha_i move by
# -0.1 (1 - z); its cost is 0.1 + 0.9 x the mean of (z, z^2, z^3) for 3 dimensions and of
# (z, z, z^2, z^3) for 6 (Dragonfly's hartmann3_2 / hartmann6_4 costs on one axis).
MULTI_FIDELITY = ("branin", "hartmann3", "hartmann6")


def branin_at(z: float, x: float, y: float) -> float:
    """Branin biased at fidelity z in (0, 1]; z = 1 is branin(x, y)."""
    b = 5.1 / (4 * math.pi**2) - 0.01 * (1 - z)
    c = 5 / math.pi - 0.1 * (1 - z)
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi) + 0.005 * (1 - z)
    return (y - b * x**2 + c * x - r) ** 2 + s * (1 - t) * math.cos(x) + s


def hartmann_at(z: float, x: tuple[float, ...]) -> float:
    """Hartmann-3 or -6 (by len(x)) biased at fidelity z in (0, 1]."""
    a, p = (HARTMANN3_A, HARTMANN3_P) if len(x) == 3 else (HARTMANN6_A, HARTMANN6_P)
    return _hartmann(x, a, p, bias=0.1 * (1 - z))


def at_fidelity(name: str, z: float, arguments: tuple[float, ...]) -> float:
    """The function `name` at fidelity z (1: the function itself; a function without a
    multi-fidelity version, beale, has only that one)."""
    if name == "branin":
        return branin_at(z, *arguments)
    if name in MULTI_FIDELITY:
        return hartmann_at(z, arguments)
    return FUNCTIONS[name](*arguments)


def cost(name: str, z: float) -> float:
    """What an evaluation at fidelity z costs, as a fraction of one at z = 1."""
    if name == "branin":
        return 0.05 + 0.95 * z**1.5
    powers = (1, 2, 3) if name == "hartmann3" else (1, 1, 2, 3)
    return 0.1 + 0.9 * sum(z**k for k in powers) / len(powers)


MAX_BUDGET = 81  # objective.function.max_budget's default: 3^4, budgets 1, 3, 9, 27, 81


def max_budget(settings) -> int:
    return settings.get("max_budget") or MAX_BUDGET


def fidelity_of(settings) -> float:
    """z = budget / max_budget; 1 without a budget (the plain function)."""
    budget = settings.get("budget")
    return 1.0 if budget is None else budget / max_budget(settings)


def evaluate_fold(settings, params, fold, seed, data=None, threads=1) -> dict:
    z = fidelity_of(settings)
    value = at_fidelity(settings["name"], z, tuple(float(v) for v in params.values()))
    if settings["noise_std"]:
        value += settings["noise_std"] * float(np.random.default_rng(seed).standard_normal())
    status = "ok" if math.isfinite(value) else "diverged"
    record = {
        "status": status,
        "metrics": {"value": value if status == "ok" else None},
        "history": {},
        "epochs_run": 0,
    }
    if settings.get("budget") is not None:
        # The fold's cost in budget units (a full evaluation costs max_budget, as a full fit
        # costs its epochs): what the report's cost axis sums.
        record["epochs_run"] = settings["budget"]
        record["resource"] = round(cost(settings["name"], z) * max_budget(settings), 9)
    return record


def evaluate_test(settings, params, seed, data=None, threads=1) -> dict:
    """The held-out "test" of a test function: its exact value, without the CV noise."""
    value = FUNCTIONS[settings["name"]](*(float(v) for v in params.values()))
    status = "ok" if math.isfinite(value) else "diverged"
    return {"status": status, "test_objective": value if status == "ok" else None,
            "metrics": {"value": value if status == "ok" else None}}


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
    """objective.function: `name` (branin, beale: x, y; hartmann3: x1..x3; hartmann6:
    x1..x6) of the space's numeric parameters, in order."""

    name = "function"
    label = "test function"
    tunable = None  # the space's parameters are the function's arguments, in order
    fidelity = "budget"  # with a budget: the multi-fidelity version (module docstring)
    continues = False  # a promoted trial is evaluated anew at its budget

    @classmethod
    def describe(cls, settings):
        name = settings.get("name", "branin")
        if settings.get("budget") is not None:
            return f"multi-fidelity test function {name}"
        return f"test function {name}"

    @classmethod
    def kind(cls, settings):
        return "multi-fidelity" if settings.get("budget") is not None else cls.label

    @classmethod
    def fidelity_errors(cls, settings, strategy):
        if settings["budget"] is None:
            return [f"objective.function.budget: required by strategies.{strategy} (the full "
                    f"budget, its last rung's; e.g. {max_budget(settings)}: the unbiased "
                    f"function)"]
        return []

    @classmethod
    def check(cls, settings, space):
        function, names = settings["name"], space.names
        arguments = ARGUMENTS[function]
        budget = settings.get("budget")
        if budget is not None and function not in MULTI_FIDELITY:
            return [f"objective.function.budget: {function} has no published multi-fidelity "
                    f"version; {', '.join(MULTI_FIDELITY)} have (or leave budget unset)"]
        if budget is not None and budget > max_budget(settings):
            return [f"objective.function.budget: {budget} > max_budget "
                    f"{max_budget(settings)}: the fidelity budget / max_budget would pass 1"]
        takes = (f"the function objective ({function}) takes exactly {len(arguments)} "
                 f"numeric parameters ({', '.join(arguments)} in order), got {names}")
        errors = [f"space.{p.name}: a choice; {takes}" for p in space if p.kind == "choice"]
        errors += [f"space.{name}: one too many; {takes}" for name in names[len(arguments):]]
        errors += [f"space.{name}: missing; {takes}" for name in arguments[len(names):]]
        # Passed by position: the function's own names in another order would silently
        # evaluate it at swapped coordinates.
        if not errors and sorted(names) == sorted(arguments) and names != list(arguments):
            errors.append(f"space: the function objective ({function}) takes its "
                          f"parameters in order, {', '.join(arguments)}; got {names}")
        return errors

    @classmethod
    def noise_free(cls, settings, params):
        value = FUNCTIONS[settings["name"]](*(float(v) for v in params.values()))
        return value if math.isfinite(value) else None

    @classmethod
    def optimum(cls, settings, space):
        minimum, minimisers = MINIMA[settings["name"]]
        inside = any(all(low <= x <= high for x, (low, high) in
                         zip(point, (p.value_bounds() for p in space), strict=True))
                     for point in minimisers)
        return minimum if inside else None

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

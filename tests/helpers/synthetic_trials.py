"""Synthetic trials.csv tables for the report's tests, and the numbers the report must show
computed directly from them (tests/report/).

The trials come from the real strategies proposing on Branin (and, for the CNN-like tables, on
the classic learning-rate x momentum space with a made-up but smooth accuracy surface): the
report sees what a real study writes, without training anything."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from hpstudy.config import strategy_defaults
from hpstudy.objectives.function import branin
from hpstudy.space import SearchSpace
from hpstudy.strategies import Observation, make_strategy

BRANIN_SPACE = {
    "x": {"type": "uniform", "low": -5.0, "high": 10.0, "grid": 3},
    "y": {"type": "uniform", "low": 0.0, "high": 15.0, "grid": [0.0, 7.5, 15.0]},
}
CNN_SPACE = {
    "learning_rate": {"type": "loguniform", "low": 3.1623e-4, "high": 0.1, "grid": 4},
    "momentum": {"type": "loguniform", "low": 3.1623e-3, "high": 0.31623,
                 "transform": "complement", "grid": 3},
}
BUDGET = 12
# Budget 12 in batches; GP proposes from its model only in the last round (skopt's GP costs
# about a second per point), TPE from trial 4 on.
SETTINGS = {
    "grid": {},
    "random": {"budget": BUDGET},
    "tpe": {"budget": BUDGET, "batch_size": 2, "n_startup_jobs": 4},
    "gp": {"budget": BUDGET, "batch_size": 3, "n_initial_points": 9},
}
SEEDS = {"random": 4, "tpe": 4, "gp": 2}  # repeats; seed 0 is the main study
FOLDS = 2
CHANCE = math.log10(1 - 1 / 10)  # the CNN's penalty for a diverged trial (10 classes)


def run_study(name: str, space_config: dict, evaluate, seed: int) -> pd.DataFrame:
    """Drive a real strategy round by round; evaluate(trial, params) -> the row's results."""
    space = SearchSpace.from_config(space_config)
    settings = {**strategy_defaults(name), **SETTINGS[name]}
    strategy = make_strategy(name, space, settings, seed)
    budget = space.grid_size() if name == "grid" else settings["budget"]
    batch = settings.get("batch_size", budget)
    history, rows = [], []
    for round_, start in enumerate(range(0, budget, batch)):
        ids = list(range(start, min(start + batch, budget)))
        for trial, params in zip(ids, strategy.propose(ids, history), strict=True):
            result = evaluate(trial, params)
            history.append(Observation(trial, params, result["objective"], result["status"]))
            rows.append({"trial": trial, "round": round_, **params, **result})
    return pd.DataFrame(rows)


def branin_trial(trial: int, params: dict) -> dict:
    """Two noisy folds of Branin, like objectives.function with noise_std 0.5."""
    value = branin(params["x"], params["y"])
    noise = np.random.default_rng([trial, int(1e6 * (params["x"] + 5))]).normal(0, 0.5, FOLDS)
    folds = value + noise
    return {"objective": float(folds.mean()), "status": "ok",
            "duration_s": round(0.5 + 0.1 * (params["x"] + 5), 3),
            **{f"fold_{k}_value": float(v) for k, v in enumerate(folds)},
            "value_mean": float(folds.mean()), "value_std": float(folds.std())}


def cnn_trial(trial: int, params: dict) -> dict:
    """Three folds of a smooth accuracy surface (best near lr 1e-2, 1 - momentum 3e-2)."""
    lr, one_minus_m = params["learning_rate"], 1.0 - params["momentum"]
    if lr >= 0.09 and one_minus_m < 0.01:  # the classic corner where SGD blows up
        return {"objective": CHANCE, "status": "diverged", "duration_s": 4.2,
                **{f"fold_{k}_accuracy": 0.1 for k in range(3)}}
    base = 0.97 - 0.03 * (math.log10(lr) + 2) ** 2 - 0.02 * (math.log10(one_minus_m) + 1.5) ** 2
    accuracy = np.clip(base + np.array([-0.004, 0.001, 0.003]) * (1 + trial % 3), 0.1, 0.999)
    return {"objective": math.log10(1 - accuracy.mean()), "status": "ok",
            "duration_s": round(30 + 2.5 * trial, 3), "cv_accuracy_mean": accuracy.mean(),
            "cv_accuracy_std": accuracy.std(), "cv_loss_mean": float(1 - accuracy.mean()),
            **{f"fold_{k}_accuracy": float(a) for k, a in enumerate(accuracy)}}


def write_csv(table: pd.DataFrame, path: Path, parameters: list[str]) -> str:
    """trials.csv as summarize_study writes it (trial, round, params, objective, status, then
    the metrics), and timings.csv beside it: the trial's duration_s as its fit wall seconds,
    90 % of it as CPU seconds."""
    fixed = ["trial", "round", *parameters, "objective", "status"]
    trials = table[fixed + sorted(c for c in table.columns if c not in fixed + ["duration_s"])]
    path.parent.mkdir(parents=True, exist_ok=True)
    trials.to_csv(path, index=False, lineterminator="\n")
    timings = pd.DataFrame({"trial": table["trial"], "folds": FOLDS,
                            "fit_seconds": table["duration_s"],
                            "fit_cpu_seconds": (0.9 * table["duration_s"]).round(3)})
    timings.to_csv(timings_path(path), index=False, lineterminator="\n")
    return str(path)


def timings_path(trials_path) -> Path:
    return Path(trials_path).with_name("timings.csv")


def timings_of(paths: dict) -> dict:
    return {name: str(timings_path(path)) for name, path in paths.items()}


# The numbers the report must show, computed directly from trials.csv.

def running_best(table: pd.DataFrame) -> list[float]:
    best, out = math.inf, []
    for objective, status in zip(table["objective"], table["status"], strict=True):
        if status == "ok" and not math.isnan(objective):
            best = min(best, objective)
        out.append(best if best < math.inf else math.nan)
    return out


def final_bests(paths: list[str], at: int) -> np.ndarray:
    """Per seed, the best ok objective among its first `at` trials."""
    out = []
    for path in paths:
        table = pd.read_csv(path).sort_values("trial").head(at)
        out.append(table.loc[table["status"] == "ok", "objective"].min())
    return np.array(out)


"""Objectives: what a (trial, fold) job trains and how a trial's folds become one score.

Every objective module provides:
- `evaluate_fold(settings, params, fold, seed, data, threads) -> dict`: one fold's record
  (status, final metrics, per-epoch history, fit seconds);
- `score_trial(settings, fold_records) -> dict`: the trial's `objective` (the value
  minimised), `status` and `metrics`;
- `evaluate_test(settings, params, seed, data, threads) -> dict`: the held-out test of the
  best params (`status`, `test_objective`, `metrics`).
Modules are imported on demand: the CNN's pulls in TensorFlow (~10 s).
"""

import importlib

_MODULES = {"function": "hpstudy.objectives.function", "cnn": "hpstudy.objectives.cnn"}


def objective_module(name: str):
    if name not in _MODULES:
        raise ValueError(f"unknown objective {name!r}; known: {', '.join(_MODULES)}")
    return importlib.import_module(_MODULES[name])


def trial_status(fold_records) -> str:
    """A trial is as bad as its worst fold: failed > diverged > ok."""
    statuses = {record["status"] for record in fold_records}
    for status in ("failed", "diverged"):
        if status in statuses:
            return status
    return "ok"

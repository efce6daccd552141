"""Fixtures of the report tests: synthetic trials.csv tables (tests/helpers/synthetic_trials.py),
written once per session and only read by the tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.helpers.synthetic_trials import (
    BRANIN_SPACE,
    CNN_SPACE,
    SEEDS,
    branin_trial,
    cnn_trial,
    run_study,
    write_csv,
)


@pytest.fixture(scope="session")
def branin_tables(tmp_path_factory):
    """grid, random, tpe and gp on noisy Branin: seed 0 of each (one random trial failed),
    and repeated seeds of random, tpe and gp."""
    root = tmp_path_factory.mktemp("branin")
    paths, repeats = {}, {}
    for name in ("grid", "random", "tpe", "gp"):
        for seed in range(SEEDS.get(name, 1)):
            table = run_study(name, BRANIN_SPACE, branin_trial, seed)
            if name == "random" and seed == 0:
                # A trial whose job crashed: no objective, no metrics.
                table.loc[5, ["objective", "fold_0_value", "fold_1_value", "value_mean",
                              "value_std"]] = np.nan
                table.loc[5, "status"] = "failed"
            path = write_csv(table, root / f"seed{seed}" / name / "trials.csv", ["x", "y"])
            if seed == 0:
                paths[name] = path
            if name in SEEDS:
                repeats.setdefault(name, []).append(path)
    return {"paths": paths, "repeats": repeats, "root": root}


@pytest.fixture(scope="session")
def cnn_tables(tmp_path_factory):
    """grid and random on the CNN-like surface (one diverged, one failed trial), with
    held-out test results for each one's best trial."""
    root = tmp_path_factory.mktemp("cnn")
    paths = {}
    for name in ("grid", "random"):
        table = run_study(name, CNN_SPACE, cnn_trial, 3)
        if name == "random":
            table.loc[4, ["objective", "cv_accuracy_mean", "cv_accuracy_std", "cv_loss_mean",
                          "fold_0_accuracy", "fold_1_accuracy", "fold_2_accuracy"]] = np.nan
            table.loc[4, "status"] = "failed"
        paths[name] = write_csv(table, root / name / "trials.csv", list(CNN_SPACE))
    tables = {name: pd.read_csv(path) for name, path in paths.items()}
    test_results = {}
    for name, table in tables.items():
        best = table[table["status"] == "ok"].sort_values("objective").iloc[0]
        test_results[name] = {"strategy": name, "trial": int(best["trial"]),
                              "params": {p: float(best[p]) for p in CNN_SPACE},
                              "cv_objective": float(best["objective"]),
                              "test_objective": float(best["objective"]) + 0.05,
                              "test_accuracy": 1 - 10 ** (float(best["objective"]) + 0.05),
                              "status": "ok"}
    return {"paths": paths, "test_results": test_results, "root": root}


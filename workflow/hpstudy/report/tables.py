"""The report's tables: trials.csv read in, best-so-far, the comparison and training-time
tables and the per-fold columns.

Conventions: the objective is minimised. A trial's *number* is its 1-based position in
trials.csv sorted by trial id (trial id 0 is trial number 1); `best_trial` in the tables is the
trial id as in trials.csv, the MLflow `trial` tag and `results/<strategy>/trials/<id>/`.
Best-so-far counts `ok` trials only: a diverged trial's objective is a penalty, not a
measurement; of a multi-fidelity strategy, only those trained to the full fidelity.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

_FOLD_COLUMN = re.compile(r"^fold_(\d+)_(\w+)$")


# --- inputs -------------------------------------------------------------------------------

def load_trials(trials_paths: Mapping[str, str],
                timings_paths: Mapping[str, str] | None = None) -> dict[str, pd.DataFrame]:
    """{strategy: trials.csv as a DataFrame sorted by trial id}, in the order given.

    With timings_paths ({strategy: timings.csv}), each table gains the measured training
    time of each trial as `duration_s` (wall seconds) and `cpu_seconds`; without, both NaN.
    """
    return {strategy: read_trials(path, (timings_paths or {}).get(strategy))
            for strategy, path in trials_paths.items()}


def read_trials(path, timings_path=None) -> pd.DataFrame:
    """One trials.csv (and its timings.csv), sorted by trial id."""
    table = pd.read_csv(path)
    missing = {"trial", "objective", "status"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    table["objective"] = pd.to_numeric(table["objective"], errors="coerce")
    table["duration_s"] = math.nan
    table["cpu_seconds"] = math.nan
    if timings_path is not None:
        timings = pd.read_csv(timings_path).set_index("trial")
        table["duration_s"] = table["trial"].map(timings["fit_seconds"])
        table["cpu_seconds"] = table["trial"].map(timings["fit_cpu_seconds"])
    return table.sort_values("trial", kind="stable").reset_index(drop=True)


def trial_numbers(table: pd.DataFrame) -> np.ndarray:
    """1-based trial numbers: the position in the (trial-sorted) table plus one."""
    return np.arange(1, len(table) + 1)


def ok_mask(table: pd.DataFrame) -> pd.Series:
    return (table["status"] == "ok") & np.isfinite(table["objective"])


def result_mask(table: pd.DataFrame) -> pd.Series:
    """The trials whose objective counts as a result (best-so-far, the best trial): ok and,
    for a multi-fidelity strategy, trained to its full fidelity (a 1-epoch look ranks
    configurations within a rung; it is not a 9-epoch result to compare across strategies)."""
    mask = ok_mask(table)
    if "fidelity" in table.columns:
        mask &= table["fidelity"] == table["fidelity"].max()
    return mask


def cumulative_resource(table: pd.DataFrame) -> np.ndarray | None:
    """The epochs trained so far (summed over folds) after each trial, in trial order (a
    multi-fidelity test function: its cost model's budget units); None
    when the objective has no fidelity (no `resource` column)."""
    if "resource" not in table.columns:
        return None
    return table["resource"].fillna(0).cumsum().to_numpy(dtype=float)


def best_so_far(table: pd.DataFrame) -> pd.Series:
    """Running minimum of the objective over ok trials; NaN until the first ok trial.

    Diverged (penalty) and failed trials carry the last best forward.
    """
    values = table["objective"].where(result_mask(table), np.inf)
    return values.cummin().replace(np.inf, np.nan)


def fold_columns(table: pd.DataFrame, metric: str | None = None) -> list[str]:
    """The fold_<k>_<metric> columns, by fold k: of the objective's fold metric
    (Objective.fold_metric) or, when not given, of the first metric that has fold columns."""
    found: dict[str, list[tuple[int, str]]] = {}
    for column in table.columns:
        match = _FOLD_COLUMN.match(str(column))
        if match:
            found.setdefault(match.group(2), []).append((int(match.group(1)), column))
    if metric is None and found:
        metric = sorted(found)[0]
    return [column for _, column in sorted(found.get(metric, []))]


def number(value) -> float:
    """value as a float; NaN when it is none (missing, or not a number)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# --- tables -------------------------------------------------------------------------------

def trials_to_margin(table: pd.DataFrame, target: float, margin: float) -> int | None:
    """First 1-based trial number whose best-so-far is within margin of target, else None."""
    if not math.isfinite(target):
        return None
    within = np.flatnonzero((best_so_far(table) <= target + margin).to_numpy())
    return int(within[0]) + 1 if len(within) else None


def resource_to_margin(table: pd.DataFrame, target: float, margin: float) -> float | None:
    """The epochs trained (summed over folds) until best-so-far is within margin of
    target, else None."""
    trials = trials_to_margin(table, target, margin)
    resource = cumulative_resource(table)
    if trials is None or resource is None:
        return None
    return float(resource[trials - 1])


def overall_best(trials: Mapping[str, pd.DataFrame]) -> float:
    """The lowest ok objective across all strategies (NaN when none is ok)."""
    bests = [table.loc[result_mask(table), "objective"].min() for table in trials.values()]
    bests = [float(b) for b in bests if pd.notna(b)]
    return min(bests) if bests else math.nan


def comparison_table(trials: Mapping[str, pd.DataFrame], parameters: Sequence[str],
                     margin: float = 0.05,
                     test_results: Mapping[str, Mapping[str, Any]] | None = None
                     ) -> pd.DataFrame:
    """One row per strategy: trials, ok, failed_or_diverged, best_objective, [test_objective,
    test_accuracy or test_rmse], the best trial's params, best_trial (id), trials_to_margin
    and, for an objective with a fidelity, resource (epochs trained, summed over folds) and
    resource_to_margin. No measured times: the same trials give the same bytes (see
    training_time_table).
    """
    target = overall_best(trials)
    with_resource = any("resource" in table.columns for table in trials.values())
    # A network's held-out score beside its objective: a classifier's accuracy, a
    # regression's RMSE (in the target's units).
    test_scores = [key for key in ("test_accuracy", "test_rmse") if test_results and any(
        key in (result or {}) for result in test_results.values())]
    rows = []
    for strategy, table in trials.items():
        ok, results = table[ok_mask(table)], table[result_mask(table)]
        row: dict[str, Any] = {"strategy": strategy, "trials": len(table), "ok": len(ok),
                               "failed_or_diverged": len(table) - len(ok),
                               "best_objective": math.nan}
        if test_results is not None:
            result = test_results.get(strategy) or {}
            row["test_objective"] = number(result.get("test_objective"))
            for key in test_scores:
                row[key] = number(result.get(key))
        best = results.loc[results["objective"].idxmin()] if len(results) else None
        for name in parameters:
            row[name] = best[name] if best is not None else None
        if best is not None:
            row["best_objective"] = float(best["objective"])
        row["best_trial"] = int(best["trial"]) if best is not None else None
        row["trials_to_margin"] = trials_to_margin(table, target, margin)
        if with_resource:  # the cost axis: what each strategy spent, and spent to get there
            # Whole units: epochs, or a test function's budget units (a cost model's
            # fractions, rounded).
            resource = cumulative_resource(table)
            row["resource"] = round(resource[-1]) if resource is not None and len(resource) \
                else None
            reached = resource_to_margin(table, target, margin)
            row["resource_to_margin"] = None if reached is None else round(reached)
        rows.append(row)
    frame = pd.DataFrame(rows)
    integers = ["best_trial", "trials_to_margin"]
    integers += ["resource", "resource_to_margin"] if with_resource else []
    for column in integers:
        frame[column] = pd.array(frame[column].tolist(), dtype="Int64")
    return frame


def training_time_table(trials: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per strategy: trials and their summed training time, wall and CPU seconds.
    Measured, so it differs from run to run; kept out of the comparison table for that."""
    rows = [{"strategy": strategy, "trials": len(table),
             "training_seconds": round(float(table["duration_s"].sum()), 3),
             "training_cpu_seconds": round(float(table["cpu_seconds"].sum()), 3)}
            for strategy, table in trials.items()]
    return pd.DataFrame(rows, columns=["strategy", "trials", "training_seconds",
                                       "training_cpu_seconds"])

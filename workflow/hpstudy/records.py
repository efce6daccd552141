"""A study's records read back: scores and fold timings from their files (one per trial, or
one per round with execution.fold_jobs: per_round), as the tables trials.csv and
timings.csv."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hpstudy import fileio
from hpstudy.outcome import TIMING_KEYS


def read_records(paths: Sequence[str], key: str) -> list[dict[str, Any]]:
    """The records in files that each hold one (a trial's score.json, a fold's timing) or,
    under `key`, a round's worth (execution.fold_jobs: per_round writes one file per round)."""
    records: list[dict[str, Any]] = []
    for path in paths:
        content = fileio.read_json(path)
        records += content[key] if key in content else [content]
    return records


def trials_table(space_names: Sequence[str], round_paths: Sequence[str],
                 score_paths: Sequence[str]):
    """One row per trial: trial, round, the params, [a multi-fidelity trial's fidelity,
    bracket, rung], objective, status, [reason: why a failed trial failed, when one did],
    [resource: epochs trained over its folds, for objectives with a fidelity], metrics."""
    import pandas as pd

    round_of = {}
    for path in round_paths:
        content = fileio.read_json(path)
        round_of.update({p["trial"]: content["round"] for p in content["proposals"]})
    rows = []
    scores = read_records(score_paths, "scores")
    # Only a study with a failed trial has the column: every other trials.csv keeps its bytes.
    with_reason = any("reason" in score for score in scores)
    for score in scores:
        row = {"trial": score["trial"], "round": round_of[score["trial"]]}
        row.update({name: score["params"][name] for name in space_names})
        # promoted_from stays in score.json: None for a rung's first trials, not a CSV int.
        row.update({key: score[key] for key in ("fidelity", "bracket", "rung") if key in score})
        row.update({"objective": score["objective"], "status": score["status"]})
        if with_reason:
            row["reason"] = score.get("reason")
        if "resource" in score:
            row["resource"] = score["resource"]
        row.update(dict(sorted(score["metrics"].items())))
        rows.append(row)
    return pd.DataFrame(rows).sort_values("trial").reset_index(drop=True)


def timings_table(timing_paths: Sequence[str]):
    """One row per trial: trial, folds, fit_seconds and fit_cpu_seconds summed over its folds."""
    return _timings_frame(read_records(timing_paths, "timings"))


def _timings_frame(timings: Sequence[dict]):
    import pandas as pd

    records = pd.DataFrame(timings, columns=["trial", "fold", *TIMING_KEYS])
    table = records.groupby("trial", sort=True).agg(
        folds=("fold", "count"), **{key: (key, "sum") for key in TIMING_KEYS})
    return table.round(3).reset_index()


def warm_tables() -> None:
    """Make two made-up rows into both tables and their CSV, once, in the warm worker
    (hpstudy.worker.remember): pandas sets up its sorting, grouping and CSV writing on first
    use, in every forked job that did it first. A 50-trial study's tables in a forked job:
    21-28 ms without, 14-26 with (5 forks each, twice; the rest is the fork's own page
    copies); 70 such jobs per benchmark of the suite."""
    import pandas as pd

    scores = pd.DataFrame([{"trial": 1, "objective": 0.5, "status": "ok"},
                           {"trial": 0, "objective": None, "status": "failed"}])
    ok = scores.sort_values("trial").reset_index(drop=True)
    ok[ok["status"] == "ok"]["objective"].idxmin()
    ok.to_csv(index=False, lineterminator="\n")
    _timings_frame([{"trial": 0, "fold": 0, **dict.fromkeys(TIMING_KEYS, 0.5)}]).to_csv(
        index=False, lineterminator="\n")

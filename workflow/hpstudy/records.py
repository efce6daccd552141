"""A study's records: a fold's record when its training fails (fold_or_failure); as tables,
scores and fold timings read from their files (one per trial, or one per round with
execution.fold_jobs: per_round), trials.csv and timings.csv."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from hpstudy import fileio
from hpstudy.objectives.base import TrialFailed

log = logging.getLogger("hpstudy")

# Wall-clock and CPU measurements of a fit. They go to a timing file of their own, so that
# the fold record (and everything made from it: score, trials.csv, report tables) is a pure
# function of the job's inputs and reruns are byte-identical.
TIMING_KEYS = ("fit_seconds", "fit_cpu_seconds")


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
    import pandas as pd

    records = pd.DataFrame(read_records(timing_paths, "timings"),
                           columns=["trial", "fold", *TIMING_KEYS])
    table = records.groupby("trial", sort=True).agg(
        folds=("fold", "count"), **{key: (key, "sum") for key in TIMING_KEYS})
    return table.round(3).reset_index()


# A failed fold of a multi-fidelity trial has no model, but its job must still write the
# checkpoint Snakemake expects of it: this small JSON stands in for it, so that the trial the
# next rung promotes from it is recorded failed too (fold_or_failure), not trained from
# nothing.
# A real checkpoint is a .keras zip file: it never starts with "{".
def write_failed_checkpoint(path: str, trial: int, reason: str) -> None:
    fileio.write_json(path, {"failed_trial": trial, "reason": reason})


def failed_checkpoint(path: str) -> dict[str, Any] | None:
    """{failed_trial, reason} when `path` stands in for a failed fold's checkpoint."""
    with open(path, "rb") as handle:
        if handle.read(1) != b"{":
            return None
    return fileio.read_json(path)


def fold_or_failure(module, settings: Mapping, entry: Mapping, fold: int, seed: int, fold_data,
                    threads: int, continuation: Mapping, attempt: tuple[int, int]) -> dict:
    """The objective's record of the fold or, when it raises TrialFailed (which errors do:
    objectives.base.failure_kind), a `failed` record with the reason. Out of memory is
    raised again before the job's last attempt (Snakemake runs the job again); a fold
    promoted from a failed one fails too. A killed process records nothing: only `retries`
    helps it, and a job killed on every attempt fails."""
    started, started_cpu = time.perf_counter(), time.process_time()
    failed_parent = None
    if "start_from" in continuation:
        failed_parent = failed_checkpoint(continuation["start_from"][0])
    try:
        if failed_parent:
            raise TrialFailed(f"continues failed trial {failed_parent['failed_trial']}: "
                              f"{failed_parent['reason']}")
        return module.evaluate_fold(dict(settings), entry["params"], fold, seed, fold_data,
                                    threads, **continuation)
    except TrialFailed as failure:
        reason = failure.reason
        if failure.out_of_memory:
            if attempt[0] < attempt[1]:
                log.warning("trial %d fold %d: %s (attempt %d of %d: failing the job for "
                            "Snakemake to retry)", entry["trial"], fold, reason, *attempt)
                raise
            reason = f"out of memory after {attempt[1]} attempt(s): {reason}"
        log.warning("trial %d fold %d failed: %s", entry["trial"], fold, reason)
        record = module.failed_fold(dict(settings), reason, fold_data)
    if "checkpoint_to" in continuation:
        origin = failed_parent or {"failed_trial": entry["trial"], "reason": reason}
        write_failed_checkpoint(continuation["checkpoint_to"], origin["failed_trial"],
                                origin["reason"])
    return {**record, "fit_seconds": round(time.perf_counter() - started, 3),
            "fit_cpu_seconds": round(time.process_time() - started_cpu, 3)}

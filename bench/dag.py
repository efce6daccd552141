"""DAG build time: `snakemake -n` for 4 strategies x N trials x 5 folds (function objective,
one job per fold, TPE and GP fully sequential, batch_size 1: the longest chain of rounds).

Snakemake walks the chain of rounds recursively when it builds the DAG (snakemake issue
2420), so long adaptive studies risk a RecursionError and a slow start. Targets: <= 15 s at
100 trials; no error at 1000 trials.

Usage: python bench/dag.py [trials ...]   (default: 100 1000). Sizes up to 200 trials are
timed as the median of --repeats runs; larger ones (the RecursionError check, ~1 min each)
run once. Writes results/bench/dag.csv. --quick: 10 and 30 trials, once each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

TIMED_UP_TO = 200  # trials; larger sizes run once
TARGETS_S = {100: 15.0}


def study_config(trials: int, batch_size: int) -> dict:
    return {
        "experiment": f"bench-dag-{trials}",
        "seed": 1,
        "dataset": {"name": "digits"},
        "cv": {"folds": 5},
        "objective": {"name": "function", "function": {"name": "branin"}},
        "space": {
            "x": {"type": "uniform", "low": -5.0, "high": 10.0, "grid": 10},
            "y": {"type": "uniform", "low": 0.0, "high": 15.0, "grid": trials // 10},
        },
        "strategies": {
            "grid": {},
            "random": {"budget": trials},
            "tpe": {"budget": trials, "batch_size": batch_size},
            "gp": {"budget": trials, "batch_size": batch_size},
        },
    }


def dry_run_seconds(trials: int, batch_size: int) -> tuple[float, bool]:
    with tempfile.TemporaryDirectory() as directory:
        common.write_config(Path(directory), study_config(trials, batch_size))
        result = common.snakemake(Path(directory), "-n", "--quiet", "rules")
        return result.wall_s, result.returncode == 0 and "RecursionError" not in result.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trials", nargs="*", type=int, default=[100, 1000])
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3,
                        help=f"runs per size up to {TIMED_UP_TO} trials (median)")
    parser.add_argument("--quick", action="store_true", help="10 and 30 trials, once each")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.repeats = [10, 30], 1
    common.start("dag", args.quick)
    rows = []
    for trials in args.trials:
        repeats = args.repeats if trials <= TIMED_UP_TO else 1
        runs = [dry_run_seconds(trials, args.batch_size) for _ in range(repeats)]
        seconds = statistics.median(r[0] for r in runs)
        ok = all(r[1] for r in runs)
        shape = f"4 strategies x {trials} trials x 5 folds (TPE/GP batch {args.batch_size})"
        timed = (f"median of {repeats}" if repeats > 1 else "one run")
        if trials in TARGETS_S:
            rows.append(common.row(f"snakemake -n, {shape}, {timed}", seconds, "s", "<=",
                                   TARGETS_S[trials], note="" if ok else "FAILED"))
        else:
            rows.append(common.row(f"snakemake -n, {shape}: no error (no RecursionError)",
                                   "yes" if ok else "no", "", "==", "yes",
                                   note=f"{seconds:.1f} s, {timed}"))
        print(f"{shape}: {seconds:.2f} s ({timed}), ok={ok}", flush=True)
    common.write_item("dag", rows, args.quick)


if __name__ == "__main__":
    main()

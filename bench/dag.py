"""DAG build time: `snakemake -n` for 4 strategies x N trials x 5 folds (function objective,
one job per fold, TPE and GP fully sequential, batch_size 1: the longest chain of rounds).

Snakemake walks the chain of rounds recursively when it builds the DAG (snakemake issue
2420), so long adaptive studies risk a RecursionError and a slow start. Targets: <= 15 s at
100 trials; no error at 1000 trials.

Usage: python bench/dag.py [trials ...]   (default: 100 1000). Sizes up to 200 trials are
timed as the median of --repeats runs; larger ones (the RecursionError check, ~1 min each)
run once. Writes results/bench/dag.csv. --quick: 10 and 30 trials, once each.

--cluster SEEDS ...: planning a cluster-scale study instead (issue 30): SEEDS seeds x random,
TPE and GP x 100 trials + a 10 x 10 grid, 5 folds, a job per fold, on Fashion-MNIST's IDX
files (Debian's dataset-fashion-mnist); 20 seeds is the issue's study (46,912 jobs). Wall
seconds, peak RSS and ms per job of `snakemake -n --quiet rules`, once per size (and once
more to count the jobs, from Snakemake's job table). Targets at
the largest: <= 60 s, <= 2 GB, ms per job within 1.5x from the smallest to the largest.
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


CLUSTER_TARGET_S, CLUSTER_TARGET_MB, FLAT_WITHIN = 60.0, 2048.0, 1.5


def cluster_config(seeds: int) -> dict:
    """The issue's cluster study, with `seeds` seeds per stochastic strategy."""
    return {
        "experiment": f"bench-dag-cluster-{seeds}",
        "seed": 2026,
        "repeats": seeds,
        "dataset": {"name": "fashion_mnist", "path": common.FASHION_MNIST},
        "cv": {"folds": 5},
        "objective": {"name": "cnn"},
        "space": {name: {**spec, "grid": 10} for name, spec in common.CLASSIC_SPACE.items()},
        "strategies": {"grid": {}, "random": {"budget": 100}, "tpe": {"budget": 100},
                       "gp": {"budget": 100}},
        "execution": {"fold_jobs": "per_fold"},
    }


def plan_cluster(seeds: int) -> dict:
    """Wall s, peak RSS (MB) and jobs of `snakemake -n` for cluster_config(seeds)."""
    with tempfile.TemporaryDirectory() as directory:
        common.write_config(Path(directory), cluster_config(seeds))
        megabytes, seconds, code = common.peak_rss_mb(
            [common.SNAKEMAKE, "--snakefile", str(common.REPO / "Snakefile"), "--directory",
             directory, "-n", "--quiet", "rules"], timeout=3600)
        # Snakemake's job table, its `total` line (stdout is the peak_rss_mb call's own)
        counted = common.snakemake(Path(directory), "-n", "--quiet", "rules") \
            if code == 0 else None
    jobs = 0
    if counted is not None:
        totals = [line.split()[-1] for line in counted.stdout.splitlines()
                  if line.startswith("total")]
        jobs = int(totals[0]) if totals else 0
    return {"seeds": seeds, "seconds": seconds, "mb": megabytes, "jobs": jobs, "code": code}


def cluster_rows(seed_counts: list[int]) -> list[dict]:
    runs = []
    for seeds in seed_counts:
        print(f"planning the cluster study with {seeds} seeds ...", flush=True)
        runs.append(plan_cluster(seeds))
    rows = []
    for run in runs:
        label = f"snakemake -n, cluster study, {run['seeds']} seeds ({run['jobs']} jobs)"
        largest = run is runs[-1]
        rows += [common.row(f"{label}: wall", run["seconds"], "s",
                            *(("<=", CLUSTER_TARGET_S) if largest else ()),
                            note="" if run["code"] == 0 else "FAILED"),
                 common.row(f"{label}: peak RSS", run["mb"], "MB",
                            *(("<=", CLUSTER_TARGET_MB) if largest else ())),
                 common.row(f"{label}: per job", 1000 * run["seconds"] / max(run["jobs"], 1),
                            "ms")]
    per_job = [r["seconds"] / max(r["jobs"], 1) for r in runs]
    rows.append(common.row("planning ms per job, largest study over smallest",
                           per_job[-1] / per_job[0], "x", "<=", FLAT_WITHIN))
    return rows


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
    parser.add_argument("--cluster", type=int, nargs="+", metavar="SEEDS",
                        help="plan the cluster study at these seed counts instead (20: the "
                             "issue's 46,912 jobs)")
    args = parser.parse_args()
    if args.cluster:
        common.start("dag_cluster", args.quick)
        common.write_item("dag_cluster", cluster_rows(sorted(args.cluster)), args.quick)
        return
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

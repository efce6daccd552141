"""DAG build time: `snakemake -n` for 4 strategies x N trials x 5 folds (function objective,
TPE and GP fully sequential, batch_size 1: the longest chain of rounds).

Usage: python bench/dag.py [trials ...]   (default: 100 1000). Median of --repeats runs.
Writes results/bench/dag.csv.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "workflow"))

from hpstudy import fileio  # noqa: E402


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
        (Path(directory) / "config.yaml").write_text(yaml.safe_dump(study_config(trials,
                                                                                 batch_size)))
        snakemake = str(Path(sys.executable).with_name("snakemake"))
        started = time.perf_counter()
        result = subprocess.run([snakemake, "-s", str(REPO / "Snakefile"), "-d", directory,
                                 "-n", "--quiet", "rules"], capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        failed = result.returncode != 0
        if failed:
            print(result.stderr[-2000:], file=sys.stderr)
        return elapsed, not failed and "RecursionError" not in result.stderr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("trials", nargs="*", type=int, default=[100, 1000])
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for trials in args.trials:
        runs = [dry_run_seconds(trials, args.batch_size) for _ in range(args.repeats)]
        jobs = 4 * trials * 5
        rows.append({"strategies": 4, "trials": trials, "folds": 5,
                     "batch_size": args.batch_size, "fold_jobs": jobs,
                     "median_s": round(statistics.median(r[0] for r in runs), 2),
                     "runs": args.repeats, "ok": all(r[1] for r in runs)})
        print(f"4 strategies x {trials:5d} trials x 5 folds (batch {args.batch_size}): "
              f"snakemake -n median {rows[-1]['median_s']:.2f} s over {args.repeats} runs, "
              f"ok={rows[-1]['ok']}", flush=True)
    import pandas as pd

    out = REPO / "results" / "bench" / "dag.csv"
    fileio.write_text(out, pd.DataFrame(rows).to_csv(index=False, lineterminator="\n"))


if __name__ == "__main__":
    main()

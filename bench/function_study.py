"""Function study: a benchmark-style study whose trials cost microseconds, so what it costs is
the pipeline's own: jobs, interpreters, proposals.

Branin (noise 0.5, 2 CV folds), random + TPE + GP, 10 seeds each (`repeats: 10`) x 50
trials, TPE and GP in batches of 5: `snakemake --cores 8` in an empty temporary directory,
MLflow and the report included; `execution.fold_jobs: per_round` (one job evaluates a round,
one logs it), the setting for objectives whose trials cost microseconds. `--fold-jobs
per_study` measures a job per study (the benchmark suite's), `per_trial` a job per trial.
Target: <= 5 min here, i.e. dominated by the proposals' own compute. Also reported: the
jobs Snakemake ran, the proposals' own CPU seconds (from the jobs' resource lines) and the
CPU seconds of the whole run.

--quick: 2 seeds x 10 trials.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

TARGET_S = 300


def study_config(seeds: int, trials: int, batch: int, fold_jobs: str) -> dict:
    startup = min(10, trials // 2)  # model-free first trials (at most half the budget)
    return common.branin_config("bench-branin", seeds, {
        "random": {"budget": trials},
        "tpe": {"budget": trials, "batch_size": batch, "n_startup_jobs": startup},
        "gp": {"budget": trials, "batch_size": batch, "n_initial_points": startup},
    }, fold_jobs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (validation only)")
    parser.add_argument("--cores", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--fold-jobs", default="per_round",
                        choices=["per_study", "per_round", "per_trial", "per_fold"],
                        help="execution.fold_jobs (default: per_round)")
    args = parser.parse_args()
    seeds, trials = (2, 10) if args.quick else (10, 50)
    common.start("function_study", args.quick)
    with common.work_directory("bench-function-", args.keep) as directory:
        common.write_config(directory, study_config(seeds, trials, 5, args.fold_jobs))
        print(f"function study: {seeds} seeds x {trials} trials x 3 strategies, "
              f"{args.fold_jobs}, snakemake --cores {args.cores} ...", flush=True)
        result = common.snakemake(directory, "--cores", str(args.cores))
        jobs = common.job_usage(directory / "results")
        proposals = [job for job in jobs if job["job"].startswith("propose_round_")]
        rows = [
            common.row("snakemake exit status", result.returncode, "", "==", 0),
            common.row(f"wall time, Branin, 3 strategies x {seeds} seeds x {trials} trials "
                       f"(batches of 5), {args.fold_jobs}, snakemake --cores {args.cores}",
                       result.wall_s, "s", "<=", TARGET_S),
            common.row("jobs run", len(jobs), "jobs",
                       note=f"{sum(job['mode'] == 'warm' for job in jobs)} warm"),
            common.row("proposal jobs' own CPU s", sum(j["job_cpu_s"] for j in proposals), "s",
                       note=f"{len(proposals)} proposal jobs"),
            common.row("jobs' launcher CPU s", sum(j["launcher_cpu_s"] for j in jobs), "s"),
            common.row("CPU time of the whole run (snakemake, worker, every job)",
                       result.cpu_s, "s"),
        ]
        common.write_item("function_study", rows, args.quick)
        return 0 if result.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

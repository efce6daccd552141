"""Quickstart: the wall time of the default study, as a new user runs it.

`snakemake --cores 8` with the repository's config.yaml (4 strategies, 7 seeds of each
stochastic one, 9 trials x 2 folds of the CNN on digits, held-out tests, report with its
verdict, MLflow) in an empty temporary directory, through the installed environment (.venv).
Targets: <= 15 min (issue 17); fit efficiency = the trials' fit CPU seconds
(results/*/timings.csv) / (wall x cores) >= 80 %, and CPU efficiency = fit CPU seconds / the
CPU seconds of every process of the run (snakemake, the warm worker, every job: getrusage of
the children) >= 85 % (issue 30; 80 % in issue 14); Snakemake (the run's CPU outside its
jobs) and MLflow (its jobs, and its part of the jobs that score and log a trial) <= 10 % of
the run's CPU (issue 30). From that run it also records
what each study trained (timings.csv: its budget x the config's folds) and every job's
wall time, CPU time and peak RSS (the resource line hpstudy.launch ends each job's log
with), in results/bench/quickstart_jobs.csv (bench/memory.py reports the RSS), and the
verdict's sentences.

--quick: the same workflow on a tiny study (2 trials per strategy, 1 epoch, 300 digits).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

TARGET_S = 900  # issue 17: the default study with its seeds in <= 15 min on 2 cores
EFFICIENCY_TARGET = 80  # % (issue 14)
CPU_EFFICIENCY_TARGET = 85  # % of the run's CPU in fits (issue 30)
SNAKEMAKE_MLFLOW_TARGET = 10  # % of the run's CPU: Snakemake and MLflow (issue 30)
# The jobs that talk to MLflow (their log names; workflow/rules/tracking.smk).
MLFLOW_JOBS = ("init_tracking", "start_study", "log_", "finish_studies")


def quick_config(config: dict) -> dict:
    config["dataset"]["limit"] = 300
    config["objective"]["cnn"]["epochs"] = 1
    config["space"]["learning_rate"]["grid"] = 2
    config["space"]["momentum"]["grid"] = 1
    config["strategies"] = {"grid": {}, "random": {"budget": 2},
                            "tpe": {"budget": 2, "batch_size": 1, "n_startup_jobs": 1},
                            "gp": {"budget": 2, "batch_size": 1, "n_initial_points": 1}}
    return config


def logged_cpu_s(logs, pattern: str) -> float:
    """The sum of the CPU seconds (group 1 of `pattern`) these logs report."""
    return sum(float(found.group(1)) for log in logs
               for found in re.finditer(pattern, log.read_text(errors="replace")))


def inline_logging_cpu_s(results: Path) -> float:
    """The CPU seconds the trials' own jobs spent logging them to MLflow (per_trial and
    per_fold log a trial in the job that scores it: hpstudy.tracking.runs.log_trial_here
    writes this line to the job's log)."""
    return logged_cpu_s((results / "logs").rglob("*.log"),
                        r"logged to MLflow in ([\d.]+) CPU s")


def worker_import_cpu_s(results: Path) -> float:
    """The CPU seconds the run's warm worker spent importing (its log's first line)."""
    return logged_cpu_s((results / "logs" / "worker").glob("*.log"),
                        r"\(([\d.]+) CPU s\); serving")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny study (validation only)")
    parser.add_argument("--cores", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    common.start("quickstart", args.quick)
    import pandas as pd

    config = yaml.safe_load((common.REPO / "config.yaml").read_text(encoding="utf-8"))
    if args.quick:
        config = quick_config(config)
    with common.work_directory("bench-quickstart-", args.keep) as directory:
        common.write_config(directory, config)
        print(f"quickstart: snakemake --cores {args.cores} in {directory} ...", flush=True)
        result = common.snakemake(directory, "--cores", str(args.cores))
        wall = result.wall_s
        results = directory / "results"
        rows = [common.row("snakemake exit status", result.returncode, "", "==", 0),
                common.row(f"wall time, snakemake --cores {args.cores}, default config, "
                           f"empty results/", wall, "s", "<=", TARGET_S)]
        from hpstudy.plan import Plan

        plan = Plan.from_config(config)
        timings, complete = [], []
        for study in plan.studies:
            path = results / study / "timings.csv"
            table = pd.read_csv(path) if path.exists() else pd.DataFrame(
                columns=["trial", "folds", "fit_seconds", "fit_cpu_seconds"])
            table.insert(0, "study", study)
            timings.append(table)
            complete.append(int((table["folds"] >= plan.folds).sum()) == plan.budget(study))
        rows.append(common.row(
            f"studies that trained their budget x {plan.folds} folds", sum(complete), "studies",
            "==", len(plan.studies), note=f"{sum(plan.budget(s) for s in plan.studies)} trials"))
        timings = pd.concat(timings, ignore_index=True)
        jobs = pd.DataFrame(common.job_usage(results))
        common.write_csv(common.out_dir(args.quick) / "quickstart_jobs.csv",
                         jobs.to_dict("records"))
        fit, fit_cpu = timings["fit_seconds"].sum(), timings["fit_cpu_seconds"].sum()
        training = jobs[jobs["job"].str.startswith("trial_")]
        cores = os.cpu_count()
        rows += [
            common.row("jobs (each writes its resource line to its log)", len(jobs), "jobs",
                       note=f"{int((jobs['mode'] == 'warm').sum())} forked from the warm "
                            f"worker, {int((jobs['mode'] == 'cold').sum())} fresh interpreters"),
            common.row("training job wall time, median", common.median(training["s"]), "s",
                       note=f"{len(training)} training jobs; {args.cores} jobs at once on "
                            f"{cores} cores"),
            common.row("fold fit time summed over all trials' folds (wall / CPU)",
                       f"{fit:.0f} / {fit_cpu:.0f}", "s",
                       note="results/*/timings.csv; held-out tests not counted"),
            common.row("CPU time of the whole run (snakemake, worker, every job)",
                       result.cpu_s, "s"),
            common.row("fit efficiency: fit CPU s / (wall x cores)",
                       100 * fit_cpu / (wall * cores), "%", ">=", EFFICIENCY_TARGET,
                       note=f"{cores} cores"),
            common.row("CPU efficiency: fit CPU s / all CPU s of the run",
                       100 * fit_cpu / result.cpu_s, "%", ">=", CPU_EFFICIENCY_TARGET),
            common.row("jobs' start-up: launcher CPU s, all jobs", jobs["launcher_cpu_s"].sum(),
                       "s", note="the process Snakemake starts per job (hpstudy.launch)"),
            common.row("jobs' own CPU s, all jobs (fits included)", jobs["job_cpu_s"].sum(),
                       "s"),
        ]
        # Snakemake's process is what the run's CPU holds besides its jobs and the warm
        # worker's imports (the study's libraries, once per run; its log says their CPU):
        # with the worker's forks and the shells Snakemake starts, an upper bound.
        outside_jobs = result.cpu_s - jobs["cpu_time_s"].sum()
        imports = worker_import_cpu_s(results)
        mlflow = jobs[jobs["job"].str.startswith(MLFLOW_JOBS)]["cpu_time_s"].sum()
        inline = inline_logging_cpu_s(results)
        rows += [
            common.row("the run's CPU s outside its jobs: Snakemake, the warm worker's forks "
                       "and the shells", outside_jobs - imports, "s",
                       note=f"and the worker's imports, {imports:.1f} s"),
            common.row("MLflow's jobs (init_tracking, start_study, log_*, finish_studies), "
                       "launchers included", mlflow, "s"),
            common.row("MLflow in the trials' jobs (a trial logged by the job that scores it)",
                       inline, "s"),
            common.row("Snakemake and MLflow: share of the run's CPU",
                       100 * (outside_jobs - imports + mlflow + inline) / result.cpu_s, "%",
                       "<=", SNAKEMAKE_MLFLOW_TARGET),
        ]
        verdict = results / "report" / "verdict.csv"
        for number, sentence in enumerate(
                pd.read_csv(verdict)["sentence"] if verdict.exists() else [], 1):
            rows.append(common.row(f"verdict {number}", sentence, ""))
        common.write_item("quickstart", rows, args.quick)
        return 0 if result.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Pipeline vs the serial loop: what running trials as Snakemake jobs costs or gains.

The same trials (params, folds, epochs, seeds) of a 28x28 workload (a stratified
Fashion-MNIST subset from the local IDX files, the default config's CNN, random search) run
(a) by the pipeline: `snakemake --cores 8 results/random/trials.csv` in a fresh directory:
    data prep, the proposal, one job per trial (1 TensorFlow thread each, as config.yaml),
    scores and the study table; the held-out test and the report are not asked for, since
    the loop does neither; MLflow is (since 2026-12-05 the job that scores a trial logs it,
    into the run's sqlite DB), which the loop does not do (bench/tracking.py measures it);
(b) by a serial loop in one fresh Python process, as the classic hyperopt script trains:
    TensorFlow imported once with its default threading (all cores), the same data prep
    (hpstudy.data.prepare, checked against the pipeline's checksums), then every fold of
    every trial in turn through hpstudy.data.load_fold and hpstudy.objectives.cnn.
    evaluate_fold, with the proposals read from the pipeline's rounds/round_*.json and the
    fold seeds derived as hpstudy.jobs.train_folds derives them.
Timed: (a) the snakemake call alone (data prep included); (b) the whole process (start,
imports, data prep and loading, training). (a) runs once per execution.fold_jobs mode and
--cores value (default: per_trial and per_fold, each with --cores 8 and 2), (b) once.
Target: wall(a)/wall(b) <= 0.8 in every run. Also reported: fit efficiency = fold fit CPU
seconds / (wall(a) x cores) and CPU efficiency = fit CPU seconds / all CPU seconds of (a).
Each fold's metrics from (a) and (b) are compared; results/bench/pipeline_folds.csv has them.

Default workload (common.WORKLOAD): 6000 examples (4800 for CV), 3 folds, 3 epochs, 8 trials.
The loop's metrics equal the pipeline's only with the same TensorFlow thread count
(--loop-threads 1); with the default threading they differ by float32 round-off.
--quick: 300 examples, 2 folds, 1 epoch, 2 trials. --keep keeps the work directory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

RATIO_TARGET = 0.8


def serial_loop(directory: Path, threads: int) -> None:
    """(b): runs in its own process; writes loop.json in `directory`."""
    import logging

    import yaml

    from hpstudy import data, fileio
    from hpstudy.plan import Plan
    from hpstudy.seeds import derive_seed

    logging.basicConfig(level=logging.WARNING)
    plan = Plan.from_config(yaml.safe_load((directory / "config.yaml").read_text()))
    settings = plan.objective_settings
    import_started = time.perf_counter()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # as hpstudy.objectives.cnn does
    if settings["device"] == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
    import keras  # noqa: F401
    import tensorflow  # noqa: F401
    tf_import = time.perf_counter() - import_started

    x, y, folds, metadata = data.prepare(plan.config["dataset"], plan.config["cv"])
    arrays = {}
    for name, array in (("x", x), ("y", y), ("folds", folds)):
        arrays[name] = str(directory / "loop" / f"{name}.npy")
        fileio.write_npy(arrays[name], array)
    from hpstudy.objectives.cnn import OBJECTIVE as cnn
    from hpstudy.outcome import fit_time

    records = []
    for round_path in sorted((directory / "results" / "random" / "rounds").glob("*.json")):
        for entry in fileio.read_json(round_path)["proposals"]:
            for fold in range(plan.folds):
                seed = derive_seed(entry["seed"], "fold", fold)
                fold_data = data.load_fold(arrays["x"], arrays["y"], arrays["folds"], fold)
                with fit_time() as fit:  # as the pipeline's job measures it
                    record = cnn.evaluate_fold(dict(settings), entry["params"], fold, seed,
                                               fold_data, threads)
                records.append({"trial": entry["trial"], "fold": fold, "seed": seed,
                                **{k: record[k] for k in ("status", "metrics", "epochs_run")},
                                **fit})
    fileio.write_json(directory / "loop.json", {
        "sha256": metadata["sha256"], "tf_import_s": tf_import, "records": records})


def compare(directory: Path) -> list[dict]:
    """One row per fold: the pipeline's record and timing beside the loop's."""
    from hpstudy import fileio

    loop = fileio.read_json(directory / "loop.json")["records"]
    rows = []
    for record in loop:
        trial_dir = directory / "results" / "random" / "trials" / str(record["trial"])
        piped = fileio.read_json(trial_dir / f"fold_{record['fold']}.json")
        timing = fileio.read_json(trial_dir / f"fold_{record['fold']}_timing.json")
        differences = {k: abs(piped["metrics"][k] - v) for k, v in record["metrics"].items()
                       if v is not None and piped["metrics"].get(k) is not None}
        rows.append({
            "trial": record["trial"], "fold": record["fold"], "seed": record["seed"],
            "same_seed": piped["seed"] == record["seed"],
            "equal_metrics": piped["metrics"] == record["metrics"],
            "max_abs_difference": max(differences.values(), default=float("nan")),
            "pipeline_val_accuracy": piped["metrics"].get("val_accuracy"),
            "loop_val_accuracy": record["metrics"].get("val_accuracy"),
            "pipeline_status": piped["status"], "loop_status": record["status"],
            "pipeline_fit_s": timing["fit_seconds"],
            "pipeline_fit_cpu_s": timing["fit_cpu_seconds"],
            "loop_fit_s": record["fit_seconds"], "loop_fit_cpu_s": record["fit_cpu_seconds"]})
    return rows


def pipeline_rows(directory: Path, wall_b: float, cores_arg: int, fold_jobs: str,
                  result: common.Run) -> list[dict]:
    """The rows of one pipeline run (a) against the loop (b)."""
    import pandas as pd

    wall_a = result.wall_s
    folds = pd.DataFrame(compare(directory))
    cores = os.cpu_count()
    fit_cpu = folds["pipeline_fit_cpu_s"].sum()
    unequal = folds[~folds["equal_metrics"]]
    jobs = pd.DataFrame(common.job_usage(directory / "results"))
    training = jobs[jobs["job"].str.startswith("trial_")]
    label = f"{fold_jobs}, --cores {cores_arg}"
    return [
        common.row(f"[{label}] (a) pipeline wall (data prep included)", wall_a, "s"),
        common.row(f"[{label}] wall(a) / wall(b)", wall_a / wall_b, "", "<=", RATIO_TARGET),
        common.row(f"[{label}] fit efficiency, fit CPU s / (wall(a) x cores)",
                   100 * fit_cpu / (wall_a * cores), "%",
                   note=f"{fit_cpu:.0f} CPU s of fits; cores = {cores}"),
        common.row(f"[{label}] CPU efficiency, fit CPU s / all CPU s of (a)",
                   100 * fit_cpu / result.cpu_s, "%",
                   note=f"{result.cpu_s:.0f} CPU s: snakemake, worker, every job"),
        common.row(f"[{label}] training jobs' start-up, median launcher CPU",
                   common.median(training["launcher_cpu_s"]), "s",
                   note=f"{len(training)} training jobs, "
                        f"{int((training['mode'] == 'warm').sum())} warm"),
        common.row(f"[{label}] folds with metrics equal between (a) and (b)",
                   f"{len(folds) - len(unequal)}/{len(folds)}", "",
                   note="" if unequal.empty else
                   f"max |difference| {unequal['max_abs_difference'].max():.3g}"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (validation only)")
    parser.add_argument("--limit", type=int, default=common.WORKLOAD["limit"],
                        help="examples (test set included)")
    parser.add_argument("--folds", type=int, default=common.WORKLOAD["folds"])
    parser.add_argument("--epochs", type=int, default=common.WORKLOAD["epochs"])
    parser.add_argument("--trials", type=int, default=common.WORKLOAD["trials"])
    parser.add_argument("--cores", default="8,2",
                        help="snakemake --cores for (a), comma-separated: one run each")
    parser.add_argument("--fold-jobs", default="per_trial,per_fold",
                        help="execution.fold_jobs for (a), comma-separated: one run each")
    parser.add_argument("--loop-threads", type=int, default=0,
                        help="TensorFlow threads in (b); 0: TensorFlow's default (all cores)")
    parser.add_argument("--keep", action="store_true", help="keep the work directories")
    parser.add_argument("--loop", type=Path, help=argparse.SUPPRESS)  # (b)'s own process
    args = parser.parse_args()
    if args.loop:
        serial_loop(args.loop, args.loop_threads)
        return 0
    if args.quick:
        args.limit, args.folds, args.epochs, args.trials = 300, 2, 1, 2
    common.start("pipeline", args.quick)
    shape = (f"{args.trials} trials x {args.folds} folds x {args.epochs} epochs, "
             f"{args.limit} Fashion-MNIST examples")
    runs = [(fold_jobs, int(cores)) for fold_jobs in args.fold_jobs.split(",")
            for cores in args.cores.split(",")]
    directories = []
    with contextlib.ExitStack() as cleanup:
        results = []
        for fold_jobs, cores in runs:
            directory = cleanup.enter_context(
                common.work_directory("bench-pipeline-", args.keep))
            directories.append(directory)
            common.write_config(directory, common.fashion_config(
                args.limit, args.folds, args.epochs, args.trials, fold_jobs))
            print(f"pipeline (a): {fold_jobs}, snakemake --cores {cores}, {shape} ...",
                  flush=True)
            results.append(common.snakemake(directory, "--cores", str(cores),
                                             "results/random/trials.csv"))
        failed = [(run, r.returncode) for run, r in zip(runs, results, strict=True) if r.returncode]
        if failed:
            common.write_item("pipeline", [common.row(f"(a) {run} snakemake exit status", code,
                                                      "", "==", 0) for run, code in failed],
                              args.quick)
            return 1
        print("serial loop (b) ...", flush=True)
        loop_dir = directories[0]
        loop_run = common.run([common.PYTHON, __file__, "--loop", str(loop_dir),
                               "--loop-threads", str(args.loop_threads)])
        (loop_dir / "loop.log").write_text(loop_run.stderr)  # TensorFlow's start-up noise
        if loop_run.returncode != 0:
            raise RuntimeError("the serial loop failed")
        loop = json.loads((loop_dir / "loop.json").read_text())
        threads = args.loop_threads or f"TensorFlow's default ({os.cpu_count()} cores)"
        rows = [
            common.row("workload", shape, note=f"random search; (a) 1 TensorFlow thread per "
                                                f"job; (b) {threads} threads"),
            common.row("(b) serial loop wall, whole process (TF import, data prep incl.)",
                       loop_run.wall_s, "s",
                       note=f"TensorFlow + Keras import {loop['tf_import_s']:.1f} s wall"),
        ]
        for directory, (fold_jobs, cores), result in zip(directories, runs, results, strict=True):
            if directory != loop_dir:
                shutil.copy(loop_dir / "loop.json", directory / "loop.json")
            sha = json.loads((directory / "results/data/dataset.json").read_text())["sha256"]
            rows.append(common.row(f"[{fold_jobs}, --cores {cores}] same data as (b)",
                                   loop["sha256"] == sha))
            rows += pipeline_rows(directory, loop_run.wall_s, cores, fold_jobs, result)
        common.write_item("pipeline", rows, args.quick)
        return 0


if __name__ == "__main__":
    sys.exit(main())

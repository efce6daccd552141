"""Pipeline vs the serial loop: what running trials as Snakemake jobs costs or gains.

The same trials (params, folds, epochs, seeds) of a 28x28 workload (a stratified
Fashion-MNIST subset from the local IDX files, the default config's CNN, random search) run
(a) by the pipeline: `snakemake --cores 8 results/random/trials.csv` in a fresh directory:
    data prep, the proposal, one job per trial (1 TensorFlow thread each, as config.yaml),
    scores and the study table; MLflow, held-out test and report are not asked for, since
    the loop does none of them (bench/tracking.py measures MLflow);
(b) by a serial loop in one fresh Python process, as the classic hyperopt script trains:
    TensorFlow imported once with its default threading (all cores), the same data prep
    (hpstudy.data.prepare, checked against the pipeline's checksums), then every fold of
    every trial in turn through hpstudy.data.load_fold and hpstudy.objectives.cnn.
    evaluate_fold, with the proposals read from the pipeline's rounds/round_*.json and the
    fold seeds derived as hpstudy.jobs.train_folds derives them.
Timed: (a) the snakemake call alone (data prep included); (b) the whole process (start,
imports, data prep and loading, training). Targets: wall(a)/wall(b) <= 0.8, and machine
efficiency = fold fit seconds / (wall(a) x cores) >= 85 %, computed from fit CPU seconds
(work done) and from fit wall seconds (which stretch when 8 jobs share the cores).
Each fold's metrics from (a) and (b) are compared; results/bench/pipeline_folds.csv has them.

Default workload (common.WORKLOAD): 6000 examples (4800 for CV), 3 folds, 3 epochs, 8 trials.
The loop's metrics equal the pipeline's only with the same TensorFlow thread count
(--loop-threads 1); with the default threading they differ by float32 round-off.
--quick: 300 examples, 2 folds, 1 epoch, 2 trials. --keep keeps the work directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

RATIO_TARGET, EFFICIENCY_TARGET = 0.8, 85


def serial_loop(directory: Path, threads: int) -> None:
    """(b): runs in its own process; writes loop.json in `directory`."""
    import logging

    import yaml

    from hpstudy import data, fileio
    from hpstudy.config import Study
    from hpstudy.seeds import derive_seed

    logging.basicConfig(level=logging.WARNING)
    study = Study.from_config(yaml.safe_load((directory / "config.yaml").read_text()))
    settings = study.objective_settings
    import_started = time.perf_counter()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # as hpstudy.objectives.cnn does
    if settings["device"] == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
    import keras  # noqa: F401
    import tensorflow  # noqa: F401
    tf_import = time.perf_counter() - import_started

    x, y, folds, metadata = data.prepare(study.config["dataset"], study.config["cv"])
    arrays = {}
    for name, array in (("x", x), ("y", y), ("folds", folds)):
        arrays[name] = str(directory / "loop" / f"{name}.npy")
        fileio.write_npy(arrays[name], array)
    from hpstudy.objectives import cnn

    records = []
    for round_path in sorted((directory / "results" / "random" / "rounds").glob("*.json")):
        for entry in fileio.read_json(round_path)["proposals"]:
            for fold in range(study.folds):
                seed = derive_seed(entry["seed"], "fold", fold)
                fold_data = data.load_fold(arrays["x"], arrays["y"], arrays["folds"], fold)
                record = cnn.evaluate_fold(dict(settings), entry["params"], fold, seed,
                                           fold_data, threads)
                records.append({"trial": entry["trial"], "fold": fold, "seed": seed,
                                **{k: record[k] for k in ("status", "metrics", "epochs_run",
                                                          "fit_seconds", "fit_cpu_seconds")}})
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


def tf_import_seconds(logs: Path) -> list[float]:
    """Each training job's TensorFlow import + set-up, from its log (first fold's line)."""
    import re

    seconds = []
    for path in sorted(logs.glob("*.log")):
        found = re.search(r"TensorFlow \S+ and Keras \S+ ready in ([\d.]+) s", path.read_text())
        if found and "fold" in path.name:
            seconds.append(float(found.group(1)))
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (validation only)")
    parser.add_argument("--limit", type=int, default=common.WORKLOAD["limit"],
                        help="examples (test set included)")
    parser.add_argument("--folds", type=int, default=common.WORKLOAD["folds"])
    parser.add_argument("--epochs", type=int, default=common.WORKLOAD["epochs"])
    parser.add_argument("--trials", type=int, default=common.WORKLOAD["trials"])
    parser.add_argument("--cores", type=int, default=8, help="snakemake --cores for (a)")
    parser.add_argument("--fold-jobs", choices=["per_trial", "per_fold"], default="per_trial")
    parser.add_argument("--loop-threads", type=int, default=0,
                        help="TensorFlow threads in (b); 0: TensorFlow's default (all cores)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--loop", type=Path, help=argparse.SUPPRESS)  # (b)'s own process
    args = parser.parse_args()
    if args.loop:
        serial_loop(args.loop, args.loop_threads)
        return 0
    if args.quick:
        args.limit, args.folds, args.epochs, args.trials = 300, 2, 1, 2
    common.start("pipeline", args.quick)
    import pandas as pd

    directory = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    try:
        common.write_config(directory, common.fashion_config(
            args.limit, args.folds, args.epochs, args.trials, args.fold_jobs))
        shape = (f"{args.trials} trials x {args.folds} folds x {args.epochs} epochs, "
                 f"{args.limit} Fashion-MNIST examples")
        print(f"pipeline (a): snakemake --cores {args.cores}, {shape} ...", flush=True)
        result = common.snakemake(directory, "--cores", str(args.cores),
                                  "results/random/trials.csv")
        wall_a = result.wall_s
        if result.returncode != 0:
            common.write_item("pipeline", [common.row("(a) snakemake exit status",
                                                      result.returncode, "", "==", 0)],
                              args.quick)
            return 1
        print("serial loop (b) ...", flush=True)
        loop_run = common.run([common.PYTHON, __file__, "--loop", str(directory),
                               "--loop-threads", str(args.loop_threads)])
        (directory / "loop.log").write_text(loop_run.stderr)  # TensorFlow's start-up noise
        if loop_run.returncode != 0:
            raise RuntimeError("the serial loop failed")
        wall_b = loop_run.wall_s
        loop = json.loads((directory / "loop.json").read_text())
        pipeline_sha = json.loads((directory / "results/data/dataset.json").read_text())["sha256"]
        folds = pd.DataFrame(compare(directory))
        common.write_csv(common.out_dir(args.quick) / "pipeline_folds.csv",
                         folds.to_dict("records"))
        imports = tf_import_seconds(directory / "results" / "logs" / "random")
        cores = os.cpu_count()
        fit, fit_cpu = folds["pipeline_fit_s"].sum(), folds["pipeline_fit_cpu_s"].sum()
        unequal = folds[~folds["equal_metrics"]]
        threads = args.loop_threads or f"TensorFlow's default ({cores} cores)"
        rows = [
            common.row("workload", shape, note=f"random search; (a) {args.fold_jobs}, "
                       f"1 TensorFlow thread per job; (b) {threads} threads"),
            common.row(f"(a) pipeline wall, snakemake --cores {args.cores} (data prep "
                       f"included)", wall_a, "s", note="target results/random/trials.csv: "
                       "prepare_data, propose, train, score, summarize jobs"),
            common.row("(b) serial loop wall, whole process (TF import, data prep incl.)",
                       wall_b, "s"),
            common.row("wall(a) / wall(b)", wall_a / wall_b, "", "<=", RATIO_TARGET),
            common.row("machine efficiency, fit CPU s / (wall(a) x cores)",
                       100 * fit_cpu / (wall_a * cores), "%", ">=", EFFICIENCY_TARGET,
                       note=f"{fit_cpu:.0f} CPU s of fits; cores = {cores}"),
            common.row("machine efficiency, fit wall s / (wall(a) x cores)",
                       100 * fit / (wall_a * cores), "%", ">=", EFFICIENCY_TARGET,
                       note=f"{fit:.0f} s: fit wall clocks stretch when {args.cores} jobs share "
                            f"{cores} cores"),
            common.row("(a) CPU time of the whole run (snakemake and every job)",
                       result.cpu_s, "s",
                       note=f"fits {100 * fit_cpu / result.cpu_s:.0f} %; the rest, "
                            f"{(result.cpu_s - fit_cpu) / args.trials:.1f} s per trial, is "
                            f"interpreters, imports, data, Snakemake"),
            common.row("(a) TensorFlow import + set-up per training job, median wall",
                       common.median(imports), "s",
                       note=f"{len(imports)} jobs' logs; {args.cores} jobs at once on "
                            f"{cores} cores"),
            common.row("(b) loop: CPU time of the whole process", loop_run.cpu_s, "s",
                       note=f"fits {100 * folds['loop_fit_cpu_s'].sum() / loop_run.cpu_s:.0f} "
                            f"%; TensorFlow + Keras import {loop['tf_import_s']:.1f} s wall"),
            common.row("same data (sha256 of x, y, folds)", loop["sha256"] == pipeline_sha),
            common.row("same fold seeds", bool(folds["same_seed"].all())),
            common.row("folds with metrics equal between (a) and (b)",
                       f"{len(folds) - len(unequal)}/{len(folds)}", "",
                       note="" if unequal.empty else
                       f"max |difference| {unequal['max_abs_difference'].max():.3g}, val "
                       f"accuracy {unequal['pipeline_val_accuracy'].mean():.4f} (a) vs "
                       f"{unequal['loop_val_accuracy'].mean():.4f} (b) on average"),
        ]
        common.write_item("pipeline", rows, args.quick)
        return 0
    finally:
        if args.keep:
            print(f"kept {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

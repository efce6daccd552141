"""Tracking: what logging one trial to MLflow costs with 8 concurrent writers into sqlite.

The pipeline logs each trial as soon as it is scored, in the job that scores it, so with
--cores 8 up to 8 processes write into results/mlflow.db at once. Here 8 writer processes (one study
each, made as the pipeline makes them: init_tracking, then start_study per study) log N
realistic trials each through hpstudy.tracking.runs.log_trial: 3 folds with 10 epochs of
loss/accuracy/val_loss/val_accuracy history, the CNN's trial metrics and fold timings. The
writers import everything and make a first client call, then start together; the clock
excludes process start and imports. Reported, as medians of 3 measurements (a fresh DB
each): the median per-trial seconds of the slowest writer and overall = wall (first start
to last finish) / trials per writer. Target: <= 0.3 s (issue 14; it was 0.67 s).
Per-writer details: results/bench/tracking_writers.csv.

--quick: 3 trials per writer, one measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

TARGET_S = 0.3
WRITERS = 8
FOLDS, EPOCHS = 3, 10


def trial_records(trial: int) -> tuple[dict, list[dict], list[dict]]:
    """A CNN trial as the pipeline logs it (log_trial): score, fold records, timings."""
    folds, timings = [], []
    for fold in range(FOLDS):
        history = {key: [round(start + step * slope + 0.001 * fold, 4) for step in range(EPOCHS)]
                   for key, start, slope in (("loss", 1.2, -0.08), ("accuracy", 0.6, 0.03),
                                             ("val_loss", 1.3, -0.07),
                                             ("val_accuracy", 0.55, 0.03))}
        folds.append({"fold": fold, "seed": 1000 * trial + fold, "trial": trial,
                      "trial_seed": trial, "status": "ok", "epochs_run": EPOCHS,
                      "metrics": {k: v[-1] for k, v in history.items()}, "history": history,
                      "params": {"learning_rate": 0.01, "momentum": 0.9}, "classes": 10,
                      "train_examples": 958, "val_examples": 479})
        timings.append({"trial": trial, "fold": fold, "fit_seconds": 3.2,
                        "fit_cpu_seconds": 3.1})
    accuracies = [f["metrics"]["val_accuracy"] for f in folds]
    metrics = {f"fold_{f['fold']}_accuracy": f["metrics"]["val_accuracy"] for f in folds}
    metrics.update({"cv_accuracy_mean": sum(accuracies) / FOLDS, "cv_accuracy_std": 0.001,
                    "cv_loss_mean": folds[0]["metrics"]["val_loss"]})
    score = {"trial": trial, "seed": trial, "params": {"learning_rate": 0.01 * (1 + trial),
                                                       "momentum": 0.9},
             "objective": -0.6, "status": "ok", "metrics": metrics, "folds": FOLDS}
    return score, folds, timings


def writer(tracking_path: str, study: str, trials: int) -> None:
    """One writer process: set up, say ready, wait for "go" on stdin, log, print timings."""
    from hpstudy.tracking import runs as tracking

    tracking._client().search_experiments(max_results=1)  # the store's first-call set-up
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.time()
    seconds, cpu = [], []
    with tempfile.TemporaryDirectory() as directory:
        for trial in range(trials):
            score, folds, timings = trial_records(trial)
            before, before_cpu = time.perf_counter(), time.process_time()
            tracking.log_trial(tracking_path, study, "random", trial, score, folds, timings,
                               "0" * 64, str(Path(directory) / f"{trial}.json"))
            seconds.append(time.perf_counter() - before)
            cpu.append(time.process_time() - before_cpu)
    print(json.dumps({"study": study, "start": started, "end": time.time(),
                      "seconds": seconds, "cpu": cpu}), flush=True)


def measure(trials: int) -> dict:
    """One measurement: a fresh DB, 8 writers started together; per-writer reports."""
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as directory:
        work = Path(directory)
        (work / "results").mkdir()
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'results/mlflow.db'}",
               "PYTHONPATH": str(common.REPO / "workflow")}
        studies = [f"writer{i}" for i in range(WRITERS)]
        subprocess.run([common.PYTHON, "-c",
                        "import sys; from hpstudy.tracking.runs import init_tracking, start_study; "
                        "init_tracking('bench-tracking', 'experiment.json'); "
                        "[start_study('experiment.json', s, 'random', 'cafe', f'{s}.json') "
                        "for s in sys.argv[1:]]", *studies],
                       check=True, env=env, cwd=work, capture_output=True)
        processes = [subprocess.Popen(
            [common.PYTHON, __file__, "--writer", str(work / f"{s}.json"), s, str(trials)],
            env=env, cwd=work, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True) for s in studies]
        for process in processes:
            if process.stdout.readline().strip() != "ready":
                process.wait()
                raise RuntimeError(f"a writer failed to start:\n{process.stderr.read()[-3000:]}")
        for process in processes:
            process.stdin.write("go\n")
            process.stdin.flush()
        reports = []
        for process in processes:
            out, err = process.communicate(timeout=3600)
            if process.returncode != 0:
                raise RuntimeError(f"a writer failed:\n{err[-3000:]}")
            reports.append({**json.loads(out.strip().splitlines()[-1]),
                            "retries": err.count("retrying in")})
    wall = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    return {"reports": reports, "overall": wall / trials, "wall": wall,
            "slowest": max(common.median(r["seconds"]) for r in reports),
            "cpu": common.median(c for r in reports for c in r["cpu"]),
            "retries": sum(r["retries"] for r in reports)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 trials per writer, 1 repeat")
    parser.add_argument("--trials", type=int, default=25, help="trials per writer")
    parser.add_argument("--repeats", type=int, default=3, help="measurements (medians)")
    parser.add_argument("--writer", nargs=3, help=argparse.SUPPRESS)  # a writer process
    args = parser.parse_args()
    if args.writer:
        writer(args.writer[0], args.writer[1], int(args.writer[2]))
        return 0
    trials, repeats = (3, 1) if args.quick else (args.trials, args.repeats)
    common.start("tracking", args.quick)
    print(f"tracking: {WRITERS} writers x {trials} trials ({FOLDS} folds x {EPOCHS} epochs of "
          f"history each) into sqlite, {repeats} times ...", flush=True)
    runs = [measure(trials) for _ in range(repeats)]
    common.write_csv(common.out_dir(args.quick) / "tracking_writers.csv", [
        {"repeat": index, "writer": r["study"], "trials": len(r["seconds"]),
         "median_s": round(common.median(r["seconds"]), 4),
         "first_s": round(r["seconds"][0], 4), "max_s": round(max(r["seconds"]), 4),
         "median_cpu_s": round(common.median(r["cpu"]), 4), "retries": r["retries"],
         "loop_s": round(r["end"] - r["start"], 3)}
        for index, run in enumerate(runs) for r in run["reports"]])

    def each(key):
        return "runs: " + " ".join(f"{run[key]:.3f}" for run in runs)

    cpu = common.median(run["cpu"] for run in runs)
    rows = [
        common.row("writers x trials per writer x measurements",
                   f"{WRITERS} x {trials} x {repeats}", "",
                   note=f"{FOLDS} folds x {EPOCHS} epochs of history per trial"),
        common.row("per-trial log_trial, median per writer (slowest writer), median of runs",
                   common.median(run["slowest"] for run in runs), "s", "<=", TARGET_S,
                   note=each("slowest")),
        common.row("per-trial, overall: wall / trials per writer, median of runs",
                   common.median(run["overall"] for run in runs), "s", "<=", TARGET_S,
                   note=each("overall") + "; imports and process start excluded"),
        common.row("per-trial CPU time of the writing process, median", cpu, "s",
                   note=f"{WRITERS} writers need >= {WRITERS * cpu / os.cpu_count():.2f} s of "
                        f"wall per trial on {os.cpu_count()} cores; MLflow retries after "
                        f"errors (e.g. database is locked): {sum(r['retries'] for r in runs)}"),
    ]
    common.write_item("tracking", rows, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())

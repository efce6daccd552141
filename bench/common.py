"""Helpers shared by the `make bench` scripts (one script per item, bench/<item>.py).

Every item writes results/bench/<item>.csv (results/bench-quick/ with --quick) in one long
format, one measurement a row: measure, value, unit, target, met, note, measured_at and
load_average (1-minute, when the item started -> when it ended: other work on the machine
stretches every wall-clock time here).
`met` is yes/no where the row has a target and empty where it is only informational;
bench/summary.py prints every item's rows as one table.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "workflow"))

from hpstudy import fileio  # noqa: E402

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
PYTHON = sys.executable
ITEMS = ("quickstart", "pipeline", "classic_fold", "function_study", "job_overhead", "dag",
         "dag_cluster", "proposals", "adaptivity", "tracking", "memory", "multi_fidelity",
         "suite")
FIELDS = ("measure", "value", "unit", "target", "met", "note", "measured_at", "load_average")
FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
# The 28x28 workload of bench/pipeline.py (bench/memory.py runs one of its fold jobs).
WORKLOAD = {"limit": 6000, "folds": 3, "epochs": 3, "trials": 8}
CLASSIC_SPACE = {  # the classic learning-rate x momentum space (config.yaml's, no grid)
    "learning_rate": {"type": "loguniform", "low": 3.1623e-4, "high": 0.1},
    "momentum": {"type": "loguniform", "low": 3.1623e-3, "high": 0.31623,
                 "transform": "complement"},
}


def out_dir(quick: bool) -> Path:
    """Where an item's CSVs go: quick (tiny) runs never overwrite real measurements."""
    return REPO / "results" / ("bench-quick" if quick else "bench")


def row(measure: str, value, unit: str = "", op: str | None = None, limit=None,
        note: str = "") -> dict:
    """One measurement; with op ("<=", ">=", "==") and limit it is checked against a target."""
    met = ""
    if op is not None:
        ok = {"<=": lambda: value <= limit, ">=": lambda: value >= limit,
              "==": lambda: value == limit}[op]()
        met = "yes" if value is not None and ok else "no"
    target = "" if op is None else f"{op} {limit}{' ' + unit if unit else ''}"
    if isinstance(value, float):
        value = round(value, 4)
    return {"measure": measure, "value": value, "unit": unit, "target": target, "met": met,
            "note": note}


_LOAD_AT_START = float("nan")


def start(item: str, quick: bool) -> Path:
    """Drop the item's earlier CSVs (<item>.csv, <item>_*.csv): a failed run must not leave
    an old result behind."""
    global _LOAD_AT_START
    _LOAD_AT_START = os.getloadavg()[0]
    for old in out_dir(quick).glob(f"{item}_*.csv"):
        old.unlink(missing_ok=True)
    path = out_dir(quick) / f"{item}.csv"
    path.unlink(missing_ok=True)
    return path


def write_csv(path: Path, rows: list[dict], fields=None) -> None:
    fields = list(fields or rows[0].keys())
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n",
                            extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    fileio.write_text(path, buffer.getvalue())


def write_item(item: str, rows: list[dict], quick: bool) -> Path:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    load = f"{_LOAD_AT_START:.1f} -> {os.getloadavg()[0]:.1f}"
    path = out_dir(quick) / f"{item}.csv"
    write_csv(path, [{**r, "measured_at": stamp, "load_average": load} for r in rows], FIELDS)
    for r in rows:
        target = f"  (target {r['target']}: {r['met']})" if r["target"] else ""
        note = f"  [{r['note']}]" if r["note"] else ""
        print(f"  {r['measure']}: {r['value']} {r['unit']}{target}{note}", flush=True)
    print(f"wrote {path.relative_to(REPO)}", flush=True)
    return path


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@dataclass
class Run:
    """A finished command: wall seconds, CPU seconds of it and every descendant it waited
    for (getrusage RUSAGE_CHILDREN), exit status and output."""

    wall_s: float
    cpu_s: float
    returncode: int
    stdout: str
    stderr: str


def run(command: list[str], timeout: float = 3600, **kwargs) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        print(f"{Path(command[0]).name} ... exited {result.returncode}:\n"
              f"{result.stderr[-3000:]}", file=sys.stderr)
    return Run(wall, cpu, result.returncode, result.stdout, result.stderr)


def snakemake(directory: Path, *args: str, timeout: float = 3600) -> Run:
    """Run the repo's workflow in `directory` (its config.yaml, its results/), as
    tests/helpers/workdir.py's Workdir does."""
    return run([SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory",
                str(directory), *args], timeout=timeout)


@contextlib.contextmanager
def work_directory(prefix: str, keep: bool):
    """A fresh temporary directory for one study, removed afterwards unless `keep`."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield directory
    finally:
        if keep:
            print(f"kept {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)


def write_config(directory: Path, config: dict) -> Path:
    import yaml

    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def branin_config(experiment: str, seeds: int, strategies: dict, fold_jobs: str) -> dict:
    """A study whose trials cost microseconds (noisy Branin, 2 CV folds), so what it costs is
    the pipeline's own: `seeds` seeds of each stochastic strategy in `strategies`."""
    return {
        "experiment": experiment,
        "seed": 2026,
        "repeats": seeds,
        "dataset": {"name": "digits"},
        "cv": {"folds": 2},
        "objective": {"name": "function", "function": {"name": "branin", "noise_std": 0.5}},
        "space": {"x": {"type": "uniform", "low": -5.0, "high": 10.0, "grid": 3},
                  "y": {"type": "uniform", "low": 0.0, "high": 15.0, "grid": 3}},
        "strategies": strategies,
        "execution": {"fold_jobs": fold_jobs},
    }


def fashion_config(limit: int, folds: int, epochs: int, trials: int,
                   fold_jobs: str = "per_trial") -> dict:
    """The 28x28 workload: a stratified Fashion-MNIST subset (local IDX files), the default
    config's CNN (1 TensorFlow thread per job), random search over the classic space."""
    return {
        "experiment": "bench-fashion",
        "seed": 2026,
        "dataset": {"name": "fashion_mnist", "path": FASHION_MNIST, "limit": limit,
                    "split_seed": 0},
        "cv": {"folds": folds, "test_fraction": 0.2},
        "objective": {"name": "cnn", "cnn": {"epochs": epochs, "batch_size": 32,
                                             "threads": 1, "device": "cpu"}},
        "space": CLASSIC_SPACE,
        "strategies": {"random": {"budget": trials}},
        "execution": {"fold_jobs": fold_jobs},
    }


def job_usage(results: Path) -> list[dict]:
    """Every job's resource line (hpstudy.launch writes it at the end of the job's log):
    one row per job with the study (the log's folder), the job (the log's stem), wall s, the
    launcher's CPU s (the process Snakemake started), the job's own CPU s (the worker's
    forked child, or the rest of a cold process), peak RSS in MB (of the child: it counts
    the pages shared with the worker, TensorFlow's included) and the mode (warm or cold)."""
    rows = []
    for path in sorted((results / "logs").glob("**/*.log")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("hpstudy.launch usage "):
                usage = json.loads(line.removeprefix("hpstudy.launch usage "))
                found = re.match(r"trial_(\d+)", path.stem)
                rows.append({"study": path.parent.name if path.parent != results / "logs"
                             else "", "job": path.stem,
                             "trial": int(found.group(1)) if found else None,
                             "s": usage["wall_s"], "launcher_cpu_s": usage["launcher_cpu_s"],
                             "job_cpu_s": usage["job_cpu_s"],
                             "cpu_time_s": usage["launcher_cpu_s"] + usage["job_cpu_s"],
                             "max_rss_mb": usage["peak_rss_mb"], "mode": usage["mode"]})
    return rows


def peak_rss_mb(command: list[str], **kwargs) -> tuple[float, float, int]:
    """(peak RSS in MB, wall seconds, exit status) of a command: GNU time's "Maximum
    resident set size" when /usr/bin/time exists, else getrusage(RUSAGE_CHILDREN) in a
    fresh wrapper process (so no other child of ours counts)."""
    started = time.perf_counter()
    if shutil.which("time", path="/usr/bin"):
        result = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True,
                                text=True, **kwargs)
        found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
        kilobytes = int(found.group(1)) if found else float("nan")
        result.stderr = result.stderr.split("\tCommand being timed:")[0]  # GNU time's report
    else:
        wrapper = ("import resource, subprocess, sys; "
                   "code = subprocess.run(sys.argv[1:]).returncode; "
                   "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
                   "sys.exit(code)")
        result = subprocess.run([PYTHON, "-c", wrapper, *command], capture_output=True,
                                text=True, **kwargs)
        kilobytes = int(result.stdout.split()[-1])
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        print(f"{' '.join(command[:3])} ... exited {result.returncode}:\n"
              f"{result.stderr[-3000:]}", file=sys.stderr)
    return kilobytes / 1024, elapsed, result.returncode


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores, {memory:.0f} GiB memory, load average "
            f"{os.getloadavg()[0]:.1f}")


def median(values) -> float:
    import statistics

    values = list(values)
    return statistics.median(values) if values else float("nan")

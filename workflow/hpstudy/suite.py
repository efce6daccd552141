"""A benchmark suite: the same strategies, seeds and settings over several benchmark problems
(test functions, tabular benchmarks, surrogates), one ordinary study per benchmark.

The suite config (config/benchmark_suite.yaml) holds `suite:` (its name), `benchmarks:` (one
block per benchmark, at least its `objective:`) and any study key shared by all of them
(seed, repeats, cv, strategies, execution, ...). A benchmark's study config is the shared
keys with its block over them: `objective`, `space` and `strategies` replace the shared ones
whole (a benchmark may run fewer strategies), the others merge key by key. Each study runs
in its own directory, results/suite/<benchmark>/ (its config.yaml, results/ and Snakemake
state: resumable and inspectable on its own), by workflow/suite.smk; their MLflow runs go
into one store, each benchmark an experiment named after the suite, the benchmark and what
it is. The cross-benchmark report: hpstudy.report.suite.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpstudy.config import ConfigError, merge_config, resolve
from hpstudy.objectives import objective_class, registry

SUITE_DIR = "results/suite"
SUITE_REPORT = {  # hpstudy.report.suite_page.build_suite_report writes them
    "html": f"{SUITE_DIR}/report/index.html",
    "regret": f"{SUITE_DIR}/report/regret.csv",
    "regret_trials": f"{SUITE_DIR}/report/regret_trials.csv",
    "ranks": f"{SUITE_DIR}/report/ranks.csv",
    "friedman": f"{SUITE_DIR}/report/friedman.csv",
    "aggregate": f"{SUITE_DIR}/report/aggregate.csv",
    "pairwise": f"{SUITE_DIR}/report/pairwise.csv",
    "by_kind": f"{SUITE_DIR}/report/by_kind.csv",
    "resource": f"{SUITE_DIR}/report/resource.csv",
    "critical_difference": f"{SUITE_DIR}/report/critical_difference.png",
    "intervals": f"{SUITE_DIR}/report/intervals.png",
    "regret_curves": f"{SUITE_DIR}/report/regret_curves.png",
    "average_ranks": f"{SUITE_DIR}/report/average_ranks.png",
}
SUITE_TRACKING = f"{SUITE_DIR}/mlflow.db"
SUITE_KEYS = ("suite", "benchmarks")
REPLACED = ("objective", "space", "strategies")  # a benchmark's own replaces the shared whole
# Keys a study config has that the suite sets itself, and why.
OWN_KEYS = {
    "experiment": "each benchmark's experiment is named `<suite>-<benchmark> (what it is)`",
    "tracking": "every benchmark logs to results/suite/mlflow.db, or to MLFLOW_TRACKING_URI "
                "when set (a server: its credentials stay out of the configs)",
}
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def benchmark_dir(name: str) -> str:
    return f"{SUITE_DIR}/{name}"


def benchmark_config_file(name: str) -> str:
    return f"{benchmark_dir(name)}/config.yaml"


def describe(config: Mapping[str, Any]) -> str:
    """What a benchmark is, in a few words (its experiment name and the report say it): its
    objective's own words (Objective.describe)."""
    name = config["objective"].get("name")
    objective = registry().get(name)
    if objective is None:  # no objective of that name: resolve, which runs next, says so
        return f"{name} objective"
    return objective.describe(config["objective"].get(name) or {})


def _merge(shared: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """`own` over `shared` (config.merge_config), but REPLACED keys `own` gives replace the
    shared ones whole."""
    kept = {key: value for key, value in shared.items() if not (key in REPLACED and key in own)}
    return merge_config(kept, own)


def written_config(name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The study config as written to the benchmark's directory, where its study runs: the
    paths it gives relative to the suite's directory (dataset.path, an objective's input
    files) made relative to the benchmark's."""
    config = copy.deepcopy(dict(config))

    def moved(path: str) -> str:
        return path if os.path.isabs(path) else os.path.relpath(path, benchmark_dir(name))

    if config.get("dataset", {}).get("path"):
        config["dataset"]["path"] = moved(config["dataset"]["path"])
    objective = config["objective"]["name"]
    if config["objective"].get(objective):
        config["objective"][objective] = objective_class(objective).relocated(
            config["objective"][objective], moved)
    return config


def _errors(suite_config: Mapping[str, Any]) -> list[str]:
    errors = []
    if not isinstance(suite_config.get("suite"), str) or not NAME.match(suite_config["suite"]):
        errors.append(f"suite: {suite_config.get('suite')!r}: the suite's name is required "
                      f"(letters, digits, - and _)")
    benchmarks = suite_config.get("benchmarks")
    if not isinstance(benchmarks, Mapping) or not benchmarks:
        return [*errors, "benchmarks: at least one benchmark (name: {objective: ...}) is "
                         "required"]
    for name, block in benchmarks.items():
        if not isinstance(name, str) or not NAME.match(name):
            errors.append(f"benchmarks.{name}: a name of letters, digits, - and _ "
                          f"(it names a directory and an experiment)")
        elif not isinstance(block, Mapping) or "objective" not in block:
            errors.append(f"benchmarks.{name}: needs its objective: block")
        elif set(block) & {*SUITE_KEYS, *OWN_KEYS}:
            errors.append(f"benchmarks.{name}: {sorted(set(block) & {*SUITE_KEYS, *OWN_KEYS})}"
                          f" belong to the suite, not a benchmark")
    errors += [f"{key}: set by the suite ({OWN_KEYS[key]})" for key in OWN_KEYS
               if key in suite_config]
    return errors


def study_configs(suite_config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each benchmark's study config (its paths as seen from the suite's directory),
    validated (resolve): a bad one raises ConfigError naming `benchmarks.<name>.<key>`,
    before any job runs."""
    errors = _errors(suite_config)
    if errors:
        raise ConfigError("invalid suite config: " + "\n  ".join(errors))
    shared = {key: value for key, value in suite_config.items() if key not in SUITE_KEYS}
    configs, problems = {}, []
    for name, block in suite_config["benchmarks"].items():
        config = _merge(shared, block)
        try:
            config["experiment"] = f"{suite_config['suite']}-{name} ({describe(config)})"
            resolve(config)
        except ConfigError as error:
            lines = str(error).removeprefix("invalid config: ").split("\n  ")
            problems += [f"benchmarks.{name}: {line}" for line in lines]
            continue
        configs[name] = config
    if problems:
        raise ConfigError("invalid suite config: " + "\n  ".join(problems))
    return configs


def tracking_uri() -> str:
    """Where every benchmark logs: MLFLOW_TRACKING_URI (a server; its credentials stay out
    of configs and Snakemake's records, as for a study), else results/suite/mlflow.db
    (absolute: each study runs in its own directory)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or \
        f"sqlite:///{Path(SUITE_TRACKING).resolve()}"


# The suite's --cores, for its benchmark jobs (workflow/suite.smk sets it): a job's own
# threads are half of them, and Snakemake passes no other count that leaves a job's params,
# and so its rerun triggers, alone.
SUITE_CORES_ENV = "HPSTUDY_SUITE_CORES"


def suite_cores(default: int) -> int:
    """The suite run's cores (SUITE_CORES_ENV), else `default`."""
    return int(os.environ.get(SUITE_CORES_ENV) or default)


def run_benchmark(repo: Path, name: str, cores: int, log: str, tracking: str) -> None:
    """One benchmark's study: the workflow's own Snakefile in the benchmark's directory (a
    rerun resumes it: the same files, nothing logged twice), logging to `tracking`. Its
    progress lines are echoed to stderr, prefixed with the benchmark; its whole log goes to
    `log`."""
    config_file = Path(benchmark_config_file(name)).resolve()
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(repo / "Snakefile"),
               "--directory", benchmark_dir(name), "--configfile", str(config_file),
               "--replace-workflow-config", "--cores", str(cores)]
    environment = {**os.environ, "MLFLOW_TRACKING_URI": tracking}
    with open(log, "w", encoding="utf-8") as handle, subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=environment) as process:
        for line in process.stdout:
            handle.write(line)
            if "steps (" in line or "Error" in line:
                print(f"[{name}] {line.rstrip()}", file=sys.stderr, flush=True)
    if process.returncode:
        raise RuntimeError(f"benchmark {name}: its study failed (exit {process.returncode}); "
                           f"see {log} and {benchmark_dir(name)}/results/logs/")

"""A digest of every shipped config's outputs, to show that a refactor changed no byte.

    python -m tests.helpers.output_digest DIGEST.json [--only NAME ...]

Run it before and after a change and compare the two files (`cmp`, or `diff` for the
names). For each shipped config (config.yaml, config/*.yaml, the quick benchmark suite) it
records two things:

- `plan`: `snakemake -n --forceall` of the config as shipped, at full size: every job's rule,
  wildcards and output files (the plan, without running anything);
- `files`: the SHA-256 of every reproducible result file (not timings, logs, MLflow ids, the
  HTML page or PNGs) of a run of the config shrunk to seconds of work: 300 digits images
  instead of MNIST, 1 or 3 epochs, at most 2 seeds, 4 trials per strategy and 2 grid points
  per parameter. The shrunk run goes through the same objective, strategies, scoring and
  report code as the full one.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
SHIPPED = {
    "default": REPO / "config.yaml",
    **{path.stem: path for path in sorted((REPO / "config").glob("*.yaml"))
       if not path.stem.startswith("benchmark_suite")},
    "cnn_digits_grid8": REPO / "config" / "replay" / "cnn_digits_grid8.yaml",
}
QUICK_SUITE = REPO / "config" / "benchmark_suite_quick.yaml"
# Files that are measured or name MLflow runs: they differ between any two runs.
MEASURED = re.compile(r"(^|/)(logs|tracking|mlartifacts|\.snakemake)/|_timings?\.json$"
                      r"|timings\.csv$|training_time\.csv$|mlflow(_study)?\.json$"
                      r"|\.(html|png)$|\.db(-wal|-shm)?$")


def shrunk(config: dict) -> dict:
    """The config at seconds of work, through the same code paths."""
    config = copy.deepcopy(config)
    config["repeats"] = min(config.get("repeats", 1), 2)
    config["dataset"] = {"name": "digits", "limit": 300,
                         "split_seed": config.get("dataset", {}).get("split_seed", 0)}
    config["cv"] = {**config.get("cv", {}), "folds": 2, "test_fraction": 0.2}
    objective = config["objective"]["name"]
    settings = config["objective"].setdefault(objective, {})
    multi_fidelity = any(name in ("sha", "hyperband", "bohb") for name in config["strategies"])
    if "epochs" in settings or objective in ("cnn", "mlp"):
        settings["epochs"] = 3 if multi_fidelity else 1
    for spec in config["space"].values():
        if "grid" in spec:
            spec["grid"] = 2 if not isinstance(spec["grid"], list) else spec["grid"][:2]
    for settings in config["strategies"].values():
        if "budget" in settings:
            settings["budget"] = min(settings["budget"], 4)
        for key in ("batch_size", "n_startup_jobs", "n_startup_trials", "n_initial_points"):
            if key in settings:
                settings[key] = min(settings[key], 2)
    return config


def snakemake(directory: Path, *args: str) -> str:
    result = subprocess.run([SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory",
                             str(directory), *args], capture_output=True, text=True,
                            timeout=3600)
    if result.returncode != 0:
        raise SystemExit(f"snakemake {' '.join(args)} in {directory} failed:\n"
                         f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout + result.stderr


def plan(config_path: Path, work: Path) -> list[str]:
    """The dry run's jobs: rule, wildcards and outputs, in a stable order."""
    directory = work / "plan"
    directory.mkdir()
    (directory / "config.yaml").write_text(config_path.read_text(encoding="utf-8"),
                                           encoding="utf-8")
    output = snakemake(directory, "-n", "--forceall", "--cores", "2")
    jobs, job = [], []
    for line in output.splitlines():
        if re.match(r"(local)?rule \w+:$", line):
            job = [line]
            jobs.append(job)
        elif job and re.match(r"\s+(output|wildcards): ", line):
            job.append(line.strip())
    return sorted("\n".join(job) for job in jobs)


def digests(results: Path) -> dict[str, str]:
    return {str(path.relative_to(results)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(results.rglob("*")) if path.is_file()
            and not MEASURED.search(str(path.relative_to(results)))}


def run_shrunk(config: dict, work: Path) -> dict[str, str]:
    directory = work / "run"
    directory.mkdir()
    (directory / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False),
                                           encoding="utf-8")
    snakemake(directory, "--cores", "2")
    return digests(directory / "results")


def quick_suite(work: Path) -> dict[str, str]:
    suite = yaml.safe_load(QUICK_SUITE.read_text(encoding="utf-8"))
    suite["repeats"] = 2
    (work / "suite.yaml").write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    subprocess.run([SNAKEMAKE, "--snakefile", str(REPO / "workflow" / "suite.smk"),
                    "--directory", str(work), "--cores", "2", "--configfile",
                    str(work / "suite.yaml"), "--replace-workflow-config"],
                   check=True, capture_output=True, timeout=3600)
    return digests(work / "results")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("digest", type=Path, help="the JSON file to write")
    parser.add_argument("--only", nargs="*", help="config names (default: all, and the suite)")
    args = parser.parse_args()
    names = args.only or [*SHIPPED, "benchmark_suite_quick"]
    digest = {}
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"hpstudy-digest-{name}-") as temporary:
            work = Path(temporary)
            if name == "benchmark_suite_quick":
                digest[name] = {"files": quick_suite(work)}
            else:
                path = SHIPPED[name]
                config = yaml.safe_load(path.read_text(encoding="utf-8"))
                digest[name] = {"plan": plan(path, work), "files": run_shrunk(shrunk(config),
                                                                               work)}
        print(f"{name}: {len(digest[name]['files'])} files", flush=True)
    args.digest.write_text(json.dumps(digest, indent=1, sort_keys=True) + "\n",
                           encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Memory: peak RSS of training jobs and of Snakemake itself on a large study's DAG.

- a per_trial training job of the default study: from the resource lines of the quickstart's
  job logs (results/bench/quickstart_jobs.csv; run bench/quickstart.py first);
- a per_fold job on the 28x28 workload of bench/pipeline.py (common.WORKLOAD: 6000
  Fashion-MNIST examples, 3 folds, 3 epochs): one fold job run through Snakemake, its
  resource line read, and the same work (hpstudy.jobs.train_folds, the next fold) in a fresh
  interpreter under /usr/bin/time -v;
- the Snakemake process on the classic study's DAG (4 strategies x 100 trials x 5 folds, one
  job per fold): `snakemake -n` with config/fashion_mnist.yaml, the classic MNIST study's
  shape on the local Fashion-MNIST IDX files (config/classic_mnist.yaml needs MNIST, which is
  not on this machine), under /usr/bin/time -v (or getrusage in a wrapper).
No targets: these tell how many jobs a machine's memory holds at once.

--quick: a 300-example, 1-epoch fold job and a 4 x 20-trial dry run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

RSS_TOOL = "/usr/bin/time -v" if shutil.which("time", path="/usr/bin") else "getrusage"
# One fold job's work without Snakemake: argv[1] is a study directory that has run fold 0.
DIRECT_FOLD_JOB = """
import sys, yaml
from hpstudy.plan import Plan
from hpstudy.jobs import train_folds
d = sys.argv[1]
plan = Plan.from_config(yaml.safe_load(open(d + "/config.yaml")))
train_folds("cnn", plan.objective_settings, d + "/results/random/rounds/round_0.json", 0, [1],
            {k: f"{d}/results/data/{k}.npy" for k in ("x", "y", "folds")}, 1,
            [d + "/direct/fold_1.json"], [d + "/direct/fold_1_timing.json"])
"""


def quickstart_rows(quick: bool) -> list[dict]:
    path = common.out_dir(quick) / "quickstart_jobs.csv"
    if not path.exists():
        return [common.row("quickstart training job peak RSS", "not measured", "",
                           note=f"{path.relative_to(common.REPO)} missing: run "
                                f"bench/quickstart.py first")]
    jobs = [r for r in common.read_csv(path) if r["job"].startswith("trial_")]
    rss = [float(r["max_rss_mb"]) for r in jobs]
    return [common.row("per_trial job peak RSS (default study, 3 digits folds), max", max(rss),
                       "MB", note=f"median {common.median(rss):.0f} MB over {len(rss)} jobs "
                                  f"of the quickstart run; a warm job's RSS counts the pages "
                                  f"it shares with the worker (TensorFlow's included)")]


def fold_job_rows(quick: bool) -> list[dict]:
    limit, epochs = (300, 1) if quick else (common.WORKLOAD["limit"], common.WORKLOAD["epochs"])
    directory = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    try:
        common.write_config(directory, common.fashion_config(limit, common.WORKLOAD["folds"],
                                                             epochs, 1, "per_fold"))
        result = common.snakemake(directory, "--cores", "2",
                                     "results/random/trials/0/fold_0.json")
        jobs = [job for job in common.job_usage(directory / "results")
                if job["job"].startswith("trial_")]
        if result.returncode != 0 or not jobs:
            return [common.row("per_fold job peak RSS (28x28)", "failed", "")]
        job = jobs[0]
        # The same job's work (hpstudy.jobs.train_folds, next fold) under the kernel's exact
        # peak: Snakemake's benchmark samples, and may miss a peak between samples.
        rss, wall, code = common.peak_rss_mb(
            [common.PYTHON, "-c", DIRECT_FOLD_JOB, str(directory)],
            env={**os.environ, "PYTHONPATH": str(common.REPO / "workflow")})
        shape = f"28x28, {limit} examples, {epochs} epochs"
        return [
            common.row(f"per_fold job peak RSS ({shape}), from its log",
                       job["max_rss_mb"], "MB",
                       note=f"{job['mode']} job, the kernel's peak (getrusage); job wall "
                            f"{job['s']:.1f} s"),
            common.row(f"per_fold job's work run directly, peak RSS ({shape})",
                       rss if code == 0 else "failed", "MB",
                       note=f"hpstudy.jobs.train_folds for one fold under {RSS_TOOL}; "
                            f"{wall:.1f} s"),
        ]
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def dry_run_rows(quick: bool) -> list[dict]:
    config = yaml.safe_load((common.REPO / "config" / "fashion_mnist.yaml").read_text())
    if quick:
        config["space"]["momentum"]["grid"] = 2
        for settings in config["strategies"].values():
            if "budget" in settings:
                settings["budget"] = 20
    trials = 20 if quick else 100
    with tempfile.TemporaryDirectory(prefix="bench-memory-dag-") as directory:
        common.write_config(Path(directory), config)
        rss, wall, code = common.peak_rss_mb(
            [common.SNAKEMAKE, "--snakefile", str(common.REPO / "Snakefile"), "--directory",
             directory, "-n", "--quiet", "rules"])
    return [common.row(f"Snakemake process peak RSS, snakemake -n, 4 strategies x {trials} "
                       f"trials x 5 folds, per_fold", rss if code == 0 else "failed", "MB",
                       note=f"config/fashion_mnist.yaml{' (shrunk)' if quick else ''}; "
                            f"{wall:.1f} s; {RSS_TOOL}")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (validation only)")
    args = parser.parse_args()
    common.start("memory", args.quick)
    print("memory: Snakemake dry run, then one per_fold job ...", flush=True)
    rows = dry_run_rows(args.quick) + quickstart_rows(args.quick) + fold_job_rows(args.quick)
    common.write_item("memory", rows, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Classic fold jobs: how much of a per-fold training job's CPU is not the fit.

The classic study's shape (config/fashion_mnist.yaml: the full 70000 Fashion-MNIST images
from Debian's dataset-fashion-mnist, 5 folds, one job per fold), cut to what a benchmark can
afford: random search, 2 trials, 1 epoch per fold (the study trains 10: its fits are 10x
longer, so its start-up share is smaller than measured here). Target: start-up <= 5 % of a
fold job's CPU. Reported per fold job, from its resource line and its timing file:
start-up = the launcher's CPU (the process Snakemake starts); non-fit = everything but the
fit (start-up, loading the 70000 images, building the model, writing).

--quick: 1 trial, 2 folds on 3000 images.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

TARGET_PERCENT = 5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (validation only)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    common.start("classic_fold", args.quick)
    config = yaml.safe_load((common.REPO / "config" / "fashion_mnist.yaml").read_text())
    config["objective"]["cnn"]["epochs"] = 1
    config["strategies"] = {"random": {"budget": 1 if args.quick else 2}}
    if args.quick:
        config["dataset"]["limit"], config["cv"]["folds"] = 3000, 2
    with common.work_directory("bench-classic-", args.keep) as directory:
        common.write_config(directory, config)
        print(f"classic fold jobs: snakemake --cores {args.cores} ...", flush=True)
        result = common.snakemake(directory, "--cores", str(args.cores),
                                  "results/random/trials.csv")
        if result.returncode != 0:
            common.write_item("classic_fold", [common.row("snakemake exit status",
                                                          result.returncode, "", "==", 0)],
                              args.quick)
            return 1
        from hpstudy.fileio import read_json

        shares, startup, fits = [], [], []
        for job in common.job_usage(directory / "results"):
            if not job["job"].startswith("trial_"):
                continue
            trial, fold = job["job"].removeprefix("trial_").split("_fold_")
            timing = read_json(directory / "results" / "random" / "trials" / trial /
                               f"fold_{fold}_timing.json")
            cpu = job["cpu_time_s"]
            shares.append(100 * (cpu - timing["fit_cpu_seconds"]) / cpu)
            startup.append(100 * job["launcher_cpu_s"] / cpu)
            fits.append(timing["fit_cpu_seconds"])
        rows = [
            common.row("fold jobs", len(shares), "jobs",
                       note=f"{config['cv']['folds']} folds, 1 epoch, fit CPU median "
                            f"{common.median(fits):.1f} s"),
            common.row("start-up share of a fold job's CPU, median", common.median(startup),
                       "%", "<=", TARGET_PERCENT, note=f"max {max(startup):.2f} %"),
            common.row("non-fit share of a fold job's CPU (start-up, data load, model, "
                       "writes), median", common.median(shares), "%",
                       note=f"max {max(shares):.1f} %"),
        ]
        common.write_item("classic_fold", rows, args.quick)
        return 0


if __name__ == "__main__":
    sys.exit(main())

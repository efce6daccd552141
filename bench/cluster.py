"""Local run vs SLURM: wall time of the same small study on this machine and through a
one-node SLURM cluster (tests/cluster/slurm.sh) with profiles/slurm, for each
execution.group. Needs root (it starts the cluster); `make bench-cluster`.

The study is the cluster test's (tests/test_cluster.py): the tiny real CNN (digits subset, 2
folds, 2 epochs), all four strategies with 2 trials each (TPE and GP in two rounds), one job
per fold, MLflow in the local sqlite DB. Each mode runs --runs times in fresh directories;
rows give the median wall seconds, the SLURM jobs submitted, and the ratio to the local
median. Every run's trials.csv files are checked equal to the first local run's.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

sys.path.insert(0, str(common.REPO))
# The test's study and SLURM arguments, so that the bench measures what the test checks.
from tests.helpers.cluster import SLURM_ARGS, cnn_config  # noqa: E402

SLURM_SCRIPT = common.REPO / "tests" / "cluster" / "slurm.sh"
MODES = ("local", "none", "trial", "round")


def study_config(group: str) -> dict:
    """The cluster test's study, with the group mode under measurement."""
    config = cnn_config()
    config["execution"]["group"] = group
    return config


def trials_tables(results: Path) -> dict[str, bytes]:
    return {path.parent.name: path.read_bytes() for path in results.glob("*/trials.csv")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="runs per mode (median reported)")
    args = parser.parse_args()
    common.start("cluster", quick=False)
    work = Path(tempfile.mkdtemp(prefix="hpstudy-bench-cluster-"))
    cluster = work / "slurm"
    started = common.run([str(SLURM_SCRIPT), "start", str(cluster)])
    if started.returncode != 0:
        return 1
    walls: dict[str, list[float]] = {mode: [] for mode in MODES}
    jobs: dict[str, int] = {}
    reference = None
    try:
        for attempt in range(args.runs):
            for mode in MODES:
                directory = work / f"{mode}-{attempt}"
                directory.mkdir()
                common.write_config(directory, study_config("none" if mode == "local" else mode))
                extra = ("--cores", "2") if mode == "local" else SLURM_ARGS
                result = common.snakemake(directory, *extra)
                if result.returncode != 0:
                    return 1
                tables = trials_tables(directory / "results")
                reference = reference or tables
                if tables != reference:
                    print(f"{mode}: trials.csv differs from the local run", file=sys.stderr)
                    return 1
                walls[mode].append(result.wall_s)
                jobs[mode] = len(re.findall(r"submitted with SLURM jobid",
                                            result.stdout + result.stderr))
                print(f"{mode} run {attempt + 1}: {result.wall_s:.0f} s, {jobs[mode]} SLURM "
                      f"jobs", flush=True)
    finally:
        common.run([str(SLURM_SCRIPT), "stop", str(cluster)])
    local = statistics.median(walls["local"])
    rows = [common.row("local run (snakemake --cores 2), wall", local, "s",
                       note=f"median of {args.runs}")]
    for mode in MODES[1:]:
        wall = statistics.median(walls[mode])
        rows.append(common.row(f"SLURM, group {mode}: wall", wall, "s",
                               note=f"median of {args.runs}; {jobs[mode]} SLURM jobs"))
        rows.append(common.row(f"SLURM, group {mode}: wall / local wall", wall / local))
    common.write_item("cluster", rows, quick=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

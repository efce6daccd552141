"""Benchmark suite: config/benchmark_suite.yaml (every non-grid single-fidelity strategy x 6
benchmarks x 10 seeds x 50 trials) by `snakemake --snakefile workflow/suite.smk` in an empty
temporary directory, MLflow, the benchmarks' reports and the suite report included. Target:
<= 30 min here. Also reported: per benchmark its wall time and jobs, the CPU seconds of the
whole run, and the suite's verdict line (average ranks, Friedman p).

--quick: config/benchmark_suite_quick.yaml (3 benchmarks x 3 seeds x 12 trials: CI's size).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

TARGET_S = 1800


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI's size (validation only)")
    parser.add_argument("--cores", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    config = common.REPO / "config" / ("benchmark_suite_quick.yaml" if args.quick
                                       else "benchmark_suite.yaml")
    common.start("suite", args.quick)
    with common.work_directory("bench-suite-", args.keep) as directory:
        # The replay benchmark's source is a path relative to the suite's directory.
        shutil.copytree(common.REPO / "config" / "replay", directory / "config" / "replay")
        print(f"benchmark suite {config.name}, snakemake --cores {args.cores} ...", flush=True)
        result = common.run([common.SNAKEMAKE, "--snakefile",
                             str(common.REPO / "workflow" / "suite.smk"), "--directory",
                             str(directory), "--configfile", str(config),
                             "--replace-workflow-config", "--cores", str(args.cores)],
                            timeout=3 * TARGET_S)
        suite = directory / "results" / "suite"
        rows = [
            common.row("snakemake exit status", result.returncode, "", "==", 0),
            common.row(f"wall time, {config.name}, snakemake --cores {args.cores}",
                       result.wall_s, "s", "<=", TARGET_S),
            common.row("CPU time of the whole run (snakemake, workers, every job)",
                       result.cpu_s, "s"),
        ]
        for log in sorted((suite / "logs").glob("*.log")):
            elapsed = re.findall(r"Elapsed time: (\d+):(\d+):(\d+)", log.read_text())
            if elapsed and not log.stem.endswith(("_config", "report")):
                hours, minutes, seconds = map(int, elapsed[-1])
                jobs = common.job_usage(suite / log.stem / "results")
                rows.append(common.row(f"benchmark {log.stem}: wall time",
                                       3600 * hours + 60 * minutes + seconds, "s",
                                       note=f"{len(jobs)} jobs"))
        verdict = suite / "report" / "index.html"
        if verdict.is_file():
            found = re.search(r"<li>(Across .*?)</li>", verdict.read_text(encoding="utf-8"),
                              re.DOTALL)
            rows.append(common.row("verdict", found.group(1).split(";")[0] if found else "",
                                   ""))
        common.write_item("suite", rows, args.quick)
        return 0 if result.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

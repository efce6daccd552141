"""Benchmark suite: config/benchmark_suite.yaml (7 strategies x 24 benchmarks x 10 seeds x 50
trials) by `snakemake --snakefile workflow/suite.smk` in an empty temporary directory, MLflow,
the benchmarks' reports and the suite report included. Targets (issue 29): <= 60 min here,
and everything but the strategies' proposals and the objectives' evaluations (the jobs that
evaluate and propose: evaluate_study, evaluate_round, propose_round) <= 25 % of the run's
CPU. Also reported: per benchmark its wall time and jobs, the CPU seconds of each kind of
job, the suite's verdict line, and on the multi-fidelity benchmarks the resource Hyperband and
BOHB spent to reach random search's final best (target <= 1/3 of random's, median over seeds).

--only NAME...: those benchmarks of the full suite alone (what one benchmark costs), written
to suite_only.csv and suite-report-only/, so that the full suite's figures and report stay.
The suite's report is copied to results/bench/suite-report/ (--keep keeps everything).
--quick: config/benchmark_suite_quick.yaml (4 benchmarks x 3 seeds x 12 trials: CI's size).
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

TARGET_S = 3600
TARGET_OVERHEAD = 0.25
MF_TARGET = 1 / 3  # Hyperband's and BOHB's resource to reach random's best, of random's
# The jobs whose CPU is the strategies' proposals and the objectives' evaluations.
WORK_SCRIPTS = ("evaluate_study", "evaluate_round", "propose_round")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI's size (validation only)")
    parser.add_argument("--cores", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these benchmarks alone")
    args = parser.parse_args()
    config = common.REPO / "config" / ("benchmark_suite_quick.yaml" if args.quick
                                       else "benchmark_suite.yaml")
    item = "suite_only" if args.only else "suite"  # a subset never replaces the full run's
    common.start(item, args.quick)
    with common.work_directory("bench-suite-", args.keep) as directory:
        # The replay benchmark's source is a path relative to the suite's directory.
        shutil.copytree(common.REPO / "config" / "replay", directory / "config" / "replay")
        if args.only:
            suite = yaml.safe_load(config.read_text(encoding="utf-8"))
            unknown = sorted(set(args.only) - set(suite["benchmarks"]))
            if unknown:
                parser.error(f"--only: not benchmarks of {config.name}: {', '.join(unknown)}")
            suite["benchmarks"] = {name: suite["benchmarks"][name] for name in args.only}
            config = directory / "suite.yaml"
            config.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
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
        jobs = [job for log in (suite / "logs").glob("*.log")
                for job in common.job_usage(suite / log.stem / "results")]
        by_script: dict[str, float] = {}
        for job in jobs:
            # propose_round_3: propose_round; log_studies_gp (a job per strategy): log_studies
            script = re.sub(r"_\d+$|(?<=^log_studies)_.*", "", job["job"])
            by_script[script] = by_script.get(script, 0.0) + job["cpu_time_s"]
        work = sum(cpu for script, cpu in by_script.items() if script.startswith(WORK_SCRIPTS))
        if result.cpu_s > 0:
            rows.append(common.row("share of the run's CPU outside proposals and evaluations",
                                   1 - work / result.cpu_s, "", "<=", TARGET_OVERHEAD,
                                   note=f"{work:.0f} of {result.cpu_s:.0f} CPU s in "
                                        f"{', '.join(WORK_SCRIPTS)} jobs"))
        for script, cpu in sorted(by_script.items(), key=lambda item: -item[1]):
            rows.append(common.row(f"CPU s of {script} jobs (job and launcher)", cpu, "s"))
        for log in sorted((suite / "logs").glob("*.log")):
            elapsed = re.findall(r"Elapsed time: (\d+):(\d+):(\d+)", log.read_text())
            if elapsed and not log.stem.endswith(("_config", "report")):
                hours, minutes, seconds = map(int, elapsed[-1])
                jobs = common.job_usage(suite / log.stem / "results")
                rows.append(common.row(f"benchmark {log.stem}: wall time",
                                       3600 * hours + 60 * minutes + seconds, "s",
                                       note=f"{len(jobs)} jobs"))
        # The multi-fidelity benchmarks: what Hyperband and BOHB spent to reach random
        # search's final best (each benchmark's report: resource.csv).
        for resource in sorted(suite.glob("*/results/report/resource.csv")):
            for row in csv.DictReader(resource.open(encoding="utf-8")):
                benchmark = resource.parents[2].name
                rows.append(common.row(
                    f"benchmark {benchmark}: {row['strategy']}'s resource to reach random "
                    f"search's final best, median over seeds, of random's",
                    float(row["median_fraction"]), "", "<=", MF_TARGET,
                    note=f"quartiles {float(row['q25_fraction']):.3g} to "
                         f"{float(row['q75_fraction']):.3g}; {row['reached']} of "
                         f"{row['seeds']} seeds got there"))
        verdict = suite / "report" / "index.html"
        if verdict.is_file():
            found = re.search(r"<li>(Across .*?)</li>", verdict.read_text(encoding="utf-8"),
                              re.DOTALL)
            rows.append(common.row("verdict", found.group(1).split(";")[0] if found else "",
                                   ""))
        common.write_item(item, rows, args.quick)
        # The suite's report outlives the work directory: an hour's results are not lost
        # with it (the benchmarks' own reports: --keep).
        if (suite / "report").is_dir():
            kept = common.out_dir(args.quick) / ("suite-report-only" if args.only
                                                 else "suite-report")
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(suite / "report", kept)
            for resource in suite.glob("*/results/report/resource.csv"):
                if len(resource.read_text(encoding="utf-8").splitlines()) > 1:  # has rows
                    shutil.copy(resource, kept / f"{resource.parents[2].name}-resource.csv")
            print(f"kept the suite report in {kept.relative_to(common.REPO)}", flush=True)
        return 0 if result.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

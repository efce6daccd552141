"""What a job costs besides its work, as a study grows (issue 30): Branin trials (their work is
microseconds), random search, one seed per 100 trials, `execution.fold_jobs: per_trial` (a
job trains, scores and logs a trial; until 2026-12-05 a second job logged it),
`snakemake --cores 2` in an empty directory.

Per size: the jobs run, the CPU seconds of the whole run (Snakemake, the warm worker, every
job, all that the run waited for) per job and per trial (the figure that compares across a
change in jobs per trial), Snakemake's own process per job, and how many scheduling passes
it made; and the CPU one more job costs, between the smallest and the largest study (the
run's fixed costs, some 6 CPU s at 100 trials, cancel out). Target: <= 0.15 CPU s per job,
flat within 1.5x from the smallest study to the largest. `--as-is` sizes also run with
Snakemake's scheduler as released (without hpstudy.snakemake_overhead's fix), for the before
figures.

Each size runs `--repeats` times (3), the sizes taking turns, and each figure is the median
of its runs (every run's value in the note): the same 100-trial run measured 0.14 to 0.18
CPU s per job within an hour on these machines (2026-12-05), whose CPU time swells when a
neighbour is busy.

--quick: 10 and 40 trials, once.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

TARGET_CPU_PER_JOB = 0.15
FLAT_WITHIN = 1.5
PROBE = "hpstudy-bench-probe "


def study_config(trials: int) -> dict:
    seeds = max(1, trials // 100)
    return common.branin_config("bench-overhead", seeds, {"random": {"budget": trials // seeds}},
                                "per_trial")


def probe(as_is: bool, args: list[str]) -> int:
    """Run Snakemake in this process, counting its scheduling passes; print them and this
    process's own CPU seconds. as_is: mark Snakemake's re-evaluation as already fixed, so that
    the Snakefile leaves it as released."""
    sys.setrecursionlimit(100_000)
    from snakemake.cli import main as snakemake_main
    from snakemake.scheduling.job_scheduler import JobScheduler

    passes = 0
    select = JobScheduler.job_selector

    def counted(self, jobs):
        nonlocal passes
        passes += 1
        return select(self, jobs)

    JobScheduler.job_selector = counted
    if as_is:
        JobScheduler._schedule_reevalutation.coalesced = True
    code = 0
    try:
        snakemake_main(args)
    except SystemExit as exit:
        code = exit.code or 0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(PROBE + json.dumps({"passes": passes,
                              "self_cpu_s": usage.ru_utime + usage.ru_stime}), file=sys.stderr)
    return code


def measure(trials: int, as_is: bool, keep: bool) -> dict:
    with common.work_directory("bench-overhead-", keep) as directory:
        common.write_config(directory, study_config(trials))
        print(f"{trials} trials{' (Snakemake as released)' if as_is else ''} ...", flush=True)
        result = common.run([common.PYTHON, __file__, "--probe", *(["--as-is"] * as_is), "--",
                             "--snakefile", str(common.REPO / "Snakefile"), "--directory",
                             str(directory), "--cores", "2"], timeout=7200)
        line = next((line for line in result.stderr.splitlines() if line.startswith(PROBE)),
                    None)  # none when Snakemake died before the probe could print
        counts = json.loads(line.removeprefix(PROBE)) if line else \
            {"passes": None, "self_cpu_s": float("nan")}
        jobs = len(common.job_usage(directory / "results"))
    return {"trials": trials, "as_is": as_is, "returncode": result.returncode,
            "wall_s": result.wall_s, "cpu_s": result.cpu_s, "jobs": jobs, **counts}


def median_row(runs: list[dict], measure: str, value, unit: str, *target) -> dict:
    """A figure (value: of one run) as the median of these runs, each run's in the note."""
    values = [value(run) for run in runs]
    return common.row(measure, common.median(values), unit, *target,
                      note=", ".join(f"{v:.4g}" for v in values) if len(values) > 1 else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (validation only)")
    parser.add_argument("--sizes", type=int, nargs="+", help="trials per study")
    parser.add_argument("--as-is", type=int, nargs="*", default=None,
                        help="sizes also run with Snakemake's scheduler as released "
                             "(default: the two smallest)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs of each size, the sizes taking turns (default 3; 1 with "
                             "--quick)")
    parser.add_argument("--keep", action="store_true", help="keep the work directories")
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.probe:
        return probe(bool(args.as_is is not None), [a for a in rest if a != "--"])
    sizes = sorted(args.sizes or ([10, 40] if args.quick else [100, 400, 1600]))
    as_is = args.as_is if args.as_is is not None else sorted(sizes)[:2]
    repeats = args.repeats or (1 if args.quick else 3)
    common.start("job_overhead", args.quick)
    kinds = [(n, False) for n in sizes] + [(n, True) for n in as_is]
    runs: dict[tuple[int, bool], list[dict]] = {kind: [] for kind in kinds}
    for _ in range(repeats):
        for trials, released in kinds:
            runs[(trials, released)].append(measure(trials, released, args.keep))
    rows = []
    for (trials, released), measured in runs.items():
        jobs = measured[0]["jobs"]
        label = f"{trials} trials, {jobs} jobs" + (", Snakemake as released" if released
                                                   else "")
        walls = "/".join(f"{run['wall_s']:.0f}" for run in measured)
        rows += [
            common.row(f"{label}: exit status", max(abs(r["returncode"]) for r in measured),
                       "", "==", 0),
            median_row(measured, f"{label}: CPU s per job, everything (wall {walls} s)",
                       lambda r: r["cpu_s"] / max(r["jobs"], 1), "s",
                       *(("<=", TARGET_CPU_PER_JOB) if not released else ())),
            median_row(measured, f"{label}: CPU s per trial, everything",
                       lambda r: r["cpu_s"] / r["trials"], "s"),
            median_row(measured, f"{label}: Snakemake's own CPU s per job",
                       lambda r: r["self_cpu_s"] / max(r["jobs"], 1), "s"),
            median_row(measured, f"{label}: scheduling passes", lambda r: r["passes"] or 0,
                       ""),
        ]
    sized = [runs[(n, False)] for n in sizes]
    per_job_by_size = [common.median(r["cpu_s"] / max(r["jobs"], 1) for r in measured)
                       for measured in sized]
    rows.append(common.row("CPU per job, largest study over smallest (medians)",
                           per_job_by_size[-1] / per_job_by_size[0], "x", "<=", FLAT_WITHIN))
    if len(sized) > 1:
        # What one more job costs: the run's fixed costs (the worker's imports, the MLflow
        # DB's creation, the report's figures) cancel out between the sizes. Paired by turn.
        smallest, largest = sized[0], sized[-1]
        rows.append(median_row(
            list(zip(smallest, largest, strict=True)),
            f"CPU s per job added, {sizes[0]} to {sizes[-1]} trials",
            lambda pair: (pair[1]["cpu_s"] - pair[0]["cpu_s"]) /
            max(pair[1]["jobs"] - pair[0]["jobs"], 1), "s", "<=", TARGET_CPU_PER_JOB))
    common.write_item("job_overhead", rows, args.quick)
    return 0 if all(r["returncode"] == 0 for measured in runs.values() for r in measured) \
        else 1


if __name__ == "__main__":
    sys.exit(main())

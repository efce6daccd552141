"""Progress at a glance (`make status`): one line per study of the plan, while the study runs
or after. Read-only: it reads the results/ files the jobs write and never touches .snakemake/
(so it takes no lock and can run beside Snakemake), and a file that is missing or cannot be
read yet counts as not done.

    PYTHONPATH=workflow python -m hpstudy.progress [--configfile F ...] [--cores N]

The estimate of the time left: the fit CPU seconds of the trials done, per unit of planned
work done, times the work left, over the cores. A unit is one full-fidelity fit: every trial
of a single-fidelity strategy is one; a multi-fidelity trial is the epochs it trains (its
fidelity less the rung below's, which it continues from) over the full fidelity's, so the
cheap first rungs do not make the promoted trials look cheap too.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hpstudy import paths
from hpstudy.config import ConfigError
from hpstudy.plan import Plan
from hpstudy.strategies import strategy_class


@dataclass
class Progress:
    """What the files of one study say so far."""

    study: str
    planned: int
    done: int = 0
    best: float | None = None
    bad: int = 0  # failed or diverged
    cpu: float = 0.0  # fit CPU seconds of every fold timed so far
    cpu_done: float = 0.0  # ... of the trials done (the estimate's rate)
    work_done: float = 0.0  # planned work of the trials done, in full-fidelity fits
    work_left: float = 0.0
    unreadable: list[str] = field(default_factory=list)

    def seconds_left(self, cores: int) -> float | None:
        """None: no trial done yet, so no rate to go by."""
        if self.work_left == 0:
            return 0.0
        if self.work_done == 0:
            return None
        return self.cpu_done / self.work_done * self.work_left / cores


def load_plan(directory: Path, configfiles: Sequence[str], replace: bool) -> Plan:
    """The plan Snakemake runs in `directory`: its config.yaml (the Snakefile's `configfile:`)
    with each --configfile merged over it, as `snakemake --configfile` does, or, with
    --replace-workflow-config, those files alone; validated by the Snakefile's loader."""
    config: dict[str, Any] = {}
    files = list(configfiles) if replace and configfiles else \
        [str(directory / "config.yaml"), *configfiles]
    for name in files:
        with open(name, encoding="utf-8") as handle:
            config = _merge(config, yaml.safe_load(handle) or {})
    return Plan.from_config(config)


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            value = _merge(merged[key], value)
        merged[key] = value
    return merged


def trial_work(plan: Plan, name: str) -> dict[int, float]:
    """Each planned trial's work in full-fidelity fits (see the module's docstring)."""
    strategy = strategy_class(plan.strategy_of(name))
    if not plan.multi_fidelity(name):
        return {trial: 1.0 for trial in plan.trials(name)}
    settings = plan.settings(name)
    full = settings["max_resource"]
    work, below = {}, 0
    for rung in strategy.rungs(settings):
        below = below if rung.rung > 0 else 0
        work.update({trial: (rung.fidelity - below) / full for trial in rung.trials})
        below = rung.fidelity
    return work


def _read(path: Path, progress: Progress) -> Any:
    """A file's JSON; None when it is absent or cannot be read (noted: a half-written file
    is not something the pipeline leaves, as it writes atomically, but a copy might)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        progress.unreadable.append(str(path))
        return None


def _records(path: Path, key: str, progress: Progress) -> list[dict[str, Any]]:
    """The records of one file (records.read_records' layout), [] when it cannot be read."""
    content = _read(path, progress)
    if not isinstance(content, dict):
        return []
    found = content[key] if key in content else [content]
    if not isinstance(found, list) or not all(isinstance(r, dict) for r in found):
        progress.unreadable.append(str(path))
        return []
    return found


def study_progress(plan: Plan, name: str, directory: Path) -> Progress:
    work = trial_work(plan, name)
    progress = Progress(name, planned=len(work))

    def at(relative: str) -> Path:  # hpstudy.paths are relative to the study directory
        return directory / relative

    if plan.fold_jobs in ("per_round", "per_study"):
        rounds = range(len(plan.rounds(name)))
        scores = [r for i in rounds for r in _records(at(paths.round_results(name, i)),
                                                      "scores", progress)]
        timings = [r for i in rounds for r in _records(at(paths.round_timings(name, i)),
                                                       "timings", progress)]
    else:
        scores = [r for t in work for r in _records(at(paths.score_file(name, t)),
                                                    "scores", progress)]
        timings = [r for t in work for k in range(plan.folds)
                   for r in _records(at(paths.timing_file(name, t, k)), "timings", progress)]
    full = plan.settings(name).get("max_resource") if plan.multi_fidelity(name) else None
    done = set()
    for score in scores:
        trial = score.get("trial")
        if not isinstance(trial, int) or trial not in work or trial in done:
            continue
        done.add(trial)
        status, objective = score.get("status"), score.get("objective")
        if status in ("failed", "diverged"):
            progress.bad += 1
        elif status == "ok" and isinstance(objective, (int, float)) and \
                score.get("fidelity") == full:
            progress.best = objective if progress.best is None else min(progress.best,
                                                                        objective)
    for timing in timings:
        cpu = timing.get("fit_cpu_seconds")
        if isinstance(cpu, (int, float)) and math.isfinite(cpu):
            progress.cpu += cpu
            if timing.get("trial") in done:
                progress.cpu_done += cpu
    progress.done = len(done)
    progress.work_done = sum(work[t] for t in done)
    progress.work_left = sum(w for t, w in work.items() if t not in done)
    return progress


def total(progresses: Sequence[Progress]) -> Progress:
    """The sum of every study; its estimate goes by the rate of every trial done, so that it
    also covers the studies that have not started."""
    bests = [p.best for p in progresses if p.best is not None]
    summed = Progress("total", planned=sum(p.planned for p in progresses),
                      best=min(bests) if bests else None)
    for key in ("done", "bad", "cpu", "cpu_done", "work_done", "work_left"):
        setattr(summed, key, sum(getattr(p, key) for p in progresses))
    return summed


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def table(progresses: Sequence[Progress], cores: int) -> list[str]:
    header = ("study", "trials", "best", "failed/diverged", "fit CPU s", "left (est.)")
    rows = [header] + [
        (p.study, f"{p.done}/{p.planned}", "-" if p.best is None else f"{p.best:.6g}",
         str(p.bad), f"{p.cpu:.1f}", duration(p.seconds_left(cores)))
        for p in [*progresses, total(progresses)]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                      for i, (cell, width) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in rows]


def cpu_count() -> int:
    """The CPUs this process may use (a container's or a taskset's, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hpstudy.progress", description=__doc__.split("\n\n")[0])
    parser.add_argument("--directory", "-d", default=".", type=Path,
                        help="the study directory (config.yaml and results/); default: .")
    parser.add_argument("--configfile", nargs="+", default=[], metavar="FILE",
                        help="as given to snakemake: merged over config.yaml")
    parser.add_argument("--replace-workflow-config", action="store_true",
                        help="as given to snakemake: the --configfile files alone")
    parser.add_argument("--cores", type=int, default=cpu_count(),
                        help="cores for the estimate of the time left; default: this "
                             "machine's (%(default)s)")
    args = parser.parse_args(argv)
    if args.cores < 1:
        parser.error("--cores must be >= 1")
    try:
        plan = load_plan(args.directory, args.configfile, args.replace_workflow_config)
    except (OSError, yaml.YAMLError, ConfigError) as error:
        print(f"progress: cannot read the config: {error}", file=sys.stderr)
        return 2
    progresses = [study_progress(plan, name, args.directory) for name in plan.studies]
    print(f"{plan.config['experiment']}: {len(plan.studies)} studies, fold_jobs "
          f"{plan.fold_jobs}; time left estimated on {args.cores} cores")
    print("\n".join(table(progresses, args.cores)))
    unreadable = [path for p in progresses for path in p.unreadable]
    if unreadable:
        print(f"not counted ({len(unreadable)} file(s) unreadable, e.g. half-written): "
              f"{', '.join(unreadable[:3])}{' ...' if len(unreadable) > 3 else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

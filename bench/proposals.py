"""Proposal latency of TPE and GP against the size of the history.

Run from the repository root: `.venv/bin/python bench/proposals.py`. Times one proposal
(batch 1, in-process, libraries already imported) after 50, 100 and 200 finished trials on the
classic 2-parameter space, median of 5 runs each, and writes results/bench/proposals.csv.
Target: <= 2 s per proposal at 200 trials of history. Adaptive strategies propose between
rounds, while no trial of the study trains, so this latency adds straight to its wall time.
--quick: 10 and 20 trials of history, 2 runs each.

`--blas-threads N` caps OpenBLAS/OpenMP threads (set before numpy loads). The GP's matrices are
small: on a busy machine, BLAS threads can make a proposal many times slower than one thread.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

_parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
_parser.add_argument("--blas-threads", type=int, default=None,
                     help="cap BLAS/OpenMP threads (default: the environment's setting)")
_parser.add_argument("--quick", action="store_true", help="small histories (validation only)")
ARGS = _parser.parse_args()
if ARGS.blas_threads is not None:
    for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_variable] = str(ARGS.blas_threads)

import common  # noqa: E402

from hpstudy.config import strategy_defaults  # noqa: E402
from hpstudy.space import SearchSpace  # noqa: E402
from hpstudy.strategies import Observation, make_strategy  # noqa: E402

SPACE = SearchSpace.from_config({
    "learning_rate": {"type": "loguniform", "low": 3.1623e-4, "high": 0.1},
    "momentum": {"type": "loguniform", "low": 3.1623e-3, "high": 0.31623,
                 "transform": "complement"},
})
STRATEGIES = ("tpe", "gp")
HISTORIES = (10, 20) if ARGS.quick else (50, 100, 200)
RUNS = 2 if ARGS.quick else 5
SEED = 2024
TARGET_S = 2.0


def loss(params: dict) -> float:
    """A smooth validation-loss-like surface with its minimum inside the space."""
    lr, momentum = params["learning_rate"], params["momentum"]
    return (0.3 + 0.2 * (math.log10(lr) + 2.0) ** 2 + 0.1 * (math.log10(1 - momentum) + 1.0) ** 2
            + 0.05 * math.sin(7 * math.log10(lr)))


def make_history(n: int) -> list[Observation]:
    """n finished trials at random points (what a study holds after n trials)."""
    points = make_strategy("random", SPACE, strategy_defaults("random"), SEED).propose(
        list(range(n)), [])
    return [Observation(trial, params, loss(params)) for trial, params in enumerate(points)]


def time_proposal(name: str, n: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds (all threads) of RUNS proposals for trial n (and on)."""
    strategy = make_strategy(name, SPACE, strategy_defaults(name), SEED)
    history = make_history(n)
    wall, cpu = [], []
    for run in range(RUNS):
        start, start_cpu = time.perf_counter(), time.process_time()
        strategy.propose([n + run], history)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def main() -> int:
    common.start("proposals", ARGS.quick)
    warnings.filterwarnings("ignore", category=UserWarning)  # skopt's repeated-point notes
    for name in STRATEGIES:  # imports and first-call costs are not what is measured
        make_strategy(name, SPACE, strategy_defaults(name), SEED).propose([10], make_history(10))
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    rows = []
    for name in STRATEGIES:
        for n in HISTORIES:
            seconds, cpu = time_proposal(name, n)
            print(f"  {name} @ {n}: " + " ".join(f"{s:.3f}" for s in seconds), flush=True)
            # CPU seconds count every thread: above the wall time when BLAS runs threads,
            # and far below it when other processes compete for the cores.
            note = f"CPU {statistics.median(cpu):.3f} s; BLAS threads: {threads}"
            measure = f"{name.upper()} proposal latency, {n} trials of history, median of {RUNS}"
            if n == max(HISTORIES):
                rows.append(common.row(measure, statistics.median(seconds), "s", "<=",
                                       TARGET_S, note=note))
            else:
                rows.append(common.row(measure, statistics.median(seconds), "s", note=note))
    common.write_item("proposals", rows, ARGS.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Adaptivity: TPE and GP against random search on Branin and Beale, by the median over seeds
of the best value found in 30 trials proposed one at a time (in-process, no workflow).

Run from the repository root: `.venv/bin/python bench/adaptivity.py`. Writes
results/bench/adaptivity.csv. Target: each adaptive strategy's median at most random search's on
each function. --quick: 3 seeds each (validation of the script only).

Why here and not in the test tiers: at 30 trials the edge is modest and the best of 30 varies a
lot from seed to seed (Branin, 200 seeds: TPE 1.19 vs random 1.58; Beale, 40 seeds: GP 1.05
vs random 1.68), so the claim needs many seeds, and GP's ~0.4 s per proposal makes 20 seeds on
Beale minutes of CPU. The test tier keeps the cheap, lopsided case (GP on Branin finds the
minimum every time: tests/strategies/test_strategies.py).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from hpstudy.config import strategy_defaults  # noqa: E402
from hpstudy.objectives.function import beale, branin  # noqa: E402
from hpstudy.space import SearchSpace  # noqa: E402
from hpstudy.strategies import make_strategy, minimise  # noqa: E402

TRIALS = 30
# Random and TPE cost milliseconds a proposal; GP about 0.4 s, hence its fewer seeds.
SEEDS = {"random": 40, "tpe": 40, "gp": 20}
FUNCTIONS = {
    "branin": (branin, {"x": {"type": "uniform", "low": -5.0, "high": 10.0},
                        "y": {"type": "uniform", "low": 0.0, "high": 15.0}}),
    "beale": (beale, {"x": {"type": "uniform", "low": -4.5, "high": 4.5},
                      "y": {"type": "uniform", "low": -4.5, "high": 4.5}}),
}


def best_of_sequential_run(name: str, function_name: str, seed: int) -> tuple[float, float]:
    """(best value, CPU seconds) after TRIALS trials proposed one at a time, each proposal
    seeing every result before it (5 initial points for TPE and GP)."""
    warnings.filterwarnings("ignore", category=UserWarning)  # skopt's repeated-point notes
    start = time.process_time()
    function, space_config = FUNCTIONS[function_name]
    space = SearchSpace.from_config(space_config)
    chosen = make_strategy(name, space, {**strategy_defaults(name), "n_startup_jobs": 5,
                                         "n_initial_points": 5, "batch_size": 1}, seed)
    past = minimise(chosen, lambda params: function(params["x"], params["y"]), TRIALS)
    return min(o.objective for o in past), time.process_time() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds each")
    args = parser.parse_args()
    common.start("adaptivity", args.quick)
    seeds = {name: 3 if args.quick else count for name, count in SEEDS.items()}
    jobs = [(name, function_name, seed) for function_name in FUNCTIONS for name in seeds
            for seed in range(seeds[name])]
    # Seeds in parallel, one BLAS thread each (set before the spawned workers import numpy).
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=context) as pool:
        results = dict(zip(jobs, pool.map(best_of_sequential_run, *zip(*jobs, strict=True)),
                           strict=True))
    rows = []
    for function_name in FUNCTIONS:
        medians = {name: round(statistics.median(results[name, function_name, seed][0]
                                                 for seed in range(seeds[name])), 4)
                   for name in seeds}
        cpu = {name: sum(results[name, function_name, seed][1] for seed in range(seeds[name]))
               for name in seeds}
        rows.append(common.row(f"{function_name}: random search's median best of {TRIALS} "
                               f"trials, {seeds['random']} seeds", medians["random"],
                               note=f"CPU {cpu['random']:.0f} s"))
        for name in ("tpe", "gp"):
            rows.append(common.row(
                f"{function_name}: {name.upper()}'s median best of {TRIALS} trials, "
                f"{seeds[name]} seeds (target: at most random search's)", medians[name], "",
                "<=", medians["random"], note=f"CPU {cpu[name]:.0f} s"))
    common.write_item("adaptivity", rows, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Multi-fidelity: the training resource Hyperband and BOHB need to reach random search's final
best CV objective, as a fraction of random search's total resource (target <= 1/3), median
over seeds with the interquartile range.

The default study's problem (the classic CNN on the bundled 8x8 digits, 3-fold CV, the
classic learning-rate x momentum space), 9 epochs: random search trains 12 configurations
to 9 epochs (108 epochs per fold); Hyperband and BOHB (eta 3, 1..9 epochs) their brackets
twice (`iterations: 2`: 44 rung trials, 138 epochs per fold, so that they can spend about
what random search spends).
`repeats` seeds of each in one `snakemake --cores 8` run. Resource = epochs trained summed
over folds (trials.csv `resource`; a promoted trial counts its extra epochs only); a
strategy's best-so-far counts its full-fidelity trials only (hpstudy.report.tables). Per
seed: the cumulative resource at the first full-fidelity trial whose best-so-far is at most
random search's final best of the same seed, over random search's total; a seed that never
gets there counts as infinite (the median says so when most do not). `--fashion` runs the
same on a Fashion-MNIST subset (local IDX files).

--quick: 2 seeds, 300 digits, 3 epochs (validation only).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

TARGET = 1 / 3


def study_config(seeds: int, epochs: int, limit: int | None, fashion: bool) -> dict:
    dataset = ({"name": "fashion_mnist", "path": common.FASHION_MNIST, "limit": limit}
               if fashion else {"name": "digits", "limit": limit})
    return {
        "experiment": "bench-multi-fidelity",
        "seed": 2026,
        "repeats": seeds,
        "dataset": dataset,
        "cv": {"folds": 3, "test_fraction": 0.2},
        "objective": {"name": "cnn", "cnn": {"epochs": epochs}},
        "space": common.CLASSIC_SPACE,
        "strategies": {"random": {"budget": 12},
                       "hyperband": {"min_resource": 1, "eta": 3, "iterations": 2},
                       "bohb": {"min_resource": 1, "eta": 3, "iterations": 2}},
        "execution": {"fold_jobs": "per_trial"},
    }


def quartiles(values: list[float]) -> tuple[float, float, float]:
    import numpy as np

    finite = np.array(values, dtype=float)
    q25, median, q75 = np.percentile(finite, [25, 50, 75], method="lower")
    return float(q25), float(median), float(q75)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (validation only)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--cores", type=int, default=8)
    parser.add_argument("--fashion", action="store_true", help="a Fashion-MNIST subset")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    import pandas as pd

    from hpstudy.plan import Plan
    from hpstudy.report.stats import resource_fraction

    seeds, epochs, limit = (2, 3, 300) if args.quick else (args.seeds, 9,
                                                         3000 if args.fashion else None)
    item = "multi_fidelity_fashion" if args.fashion else "multi_fidelity"
    problem = "Fashion-MNIST subset" if args.fashion else "digits"
    common.start(item, args.quick)
    with common.work_directory("bench-multi-fidelity-", args.keep) as directory:
        config = study_config(seeds, epochs, limit, args.fashion)
        common.write_config(directory, config)
        print(f"multi-fidelity: {problem}, {seeds} seeds x random / hyperband / bohb, "
              f"{epochs} epochs, snakemake --cores {args.cores} ...", flush=True)
        result = common.snakemake(directory, "--cores", str(args.cores))
        rows = [common.row("snakemake exit status", result.returncode, "", "==", 0),
                common.row(f"wall time of the study ({seeds} seeds)", result.wall_s, "s")]
        if result.returncode == 0:
            plan = Plan.from_config(config)

            def table(name):
                return pd.read_csv(directory / "results" / name / "trials.csv")

            for strategy in ("hyperband", "bohb"):
                fractions = [resource_fraction(table(base), table(other)) for base, other in
                             zip(plan.repeat_studies("random"),
                                 plan.repeat_studies(strategy), strict=True)]
                q25, median, q75 = quartiles(fractions)
                rows.append(common.row(
                    f"{strategy}: resource to reach random search's final best / random's "
                    f"total ({problem}), median of {seeds} seeds", median, "", "<=",
                    round(TARGET, 4),
                    note=f"IQR {q25:.3g}..{q75:.3g}; per seed "
                         + " ".join(f"{f:.3g}" for f in fractions)))
            totals = {s: [int(table(r)["resource"].sum()) for r in plan.repeat_studies(s)]
                      for s in ("random", "hyperband", "bohb")}
            rows.append(common.row("epochs trained per study (summed over folds): random / "
                                   "hyperband / bohb, seed 0",
                                   " / ".join(str(totals[s][0]) for s in totals), ""))
        common.write_item(item, rows, args.quick)
        return 0 if result.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

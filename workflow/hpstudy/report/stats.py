"""Repeated studies (several seeds per strategy): best-so-far curves, their median and
interquartile range, paired Wilcoxon tests (scipy.stats) against the reference strategy, and
the Hodges-Lehmann estimate of a paired difference with its interval."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from hpstudy.report.tables import (
    best_so_far,
    cumulative_resource,
    read_trials,
    resource_to_margin,
)

REFERENCE = "random"  # the strategy every other one is tested against in the repeats

REPEATS_COLUMNS = [
    "strategy", "seeds", "budget", "median_final_best", "q25_final_best", "q75_final_best",
    "half_budget", "median_half_best", "paired_seeds", "median_diff_final",
    "wilcoxon_final_statistic", "wilcoxon_final_p", "wilcoxon_half_statistic",
    "wilcoxon_half_p", "note"]


def repeat_curves(repeats: Mapping[str, Sequence[str]]) -> dict[str, np.ndarray]:
    """{strategy: seeds x trials array of best-so-far}, seeds in the order given.

    Seeds of one strategy are cut to the shortest seed's length (normally all are equal).
    """
    return stacked_curves({strategy: [read_trials(path) for path in paths]
                           for strategy, paths in repeats.items()})


def stacked_curves(tables: Mapping[str, Sequence[pd.DataFrame]],
                   cost_unit: float | None = None) -> dict[str, np.ndarray]:
    """repeat_curves of trials.csv tables already read (read_trials), seeds in order. With
    `cost_unit` (full_evaluation_cost), a multi-fidelity strategy's curve is by cost
    (cost_curve), so that it is compared with the others at equal resource spent."""
    curves = {}
    for strategy, seeds in tables.items():
        series = [cost_curve(table, cost_unit) if cost_unit and by_cost(table)
                  else best_so_far(table).to_numpy(dtype=float) for table in seeds]
        if not series:
            continue
        length = min(len(s) for s in series)
        curves[strategy] = np.vstack([s[:length] for s in series])
    return curves


def by_cost(table: pd.DataFrame) -> bool:
    """Whether a strategy's trials are compared by resource spent: a multi-fidelity
    strategy's (trials at several fidelities, each with its cost)."""
    return "fidelity" in table.columns and "resource" in table.columns


def full_evaluation_cost(tables: Mapping[str, Sequence[pd.DataFrame]],
                         reference: str = REFERENCE) -> float | None:
    """What one trial at the full fidelity costs: the reference's (random search trains every
    trial to it) median resource per trial, over its seeds. None without the reference or
    without a cost (an objective with one fidelity)."""
    seeds = tables.get(reference) or []
    costs = [table["resource"].to_numpy(dtype=float) for table in seeds
             if "resource" in table.columns and not by_cost(table)]
    costs = np.concatenate(costs) if costs else np.array([])
    costs = costs[np.isfinite(costs) & (costs > 0)]
    return float(np.median(costs)) if len(costs) else None


def cost_curve(table: pd.DataFrame, unit: float) -> np.ndarray:
    """Best-so-far by resource spent: element k-1 is the best result once k units (k full
    evaluations' worth) have been spent, counting the trials finished within them; NaN before
    the first result. One element per unit the strategy spent, the last one counting a part
    unit's trials too (a bracket's one full-fidelity result often ends it)."""
    spent = cumulative_resource(table)
    best = best_so_far(table).to_numpy(dtype=float)
    units = int(math.ceil(spent[-1] / unit - 1e-9)) if len(spent) else 0
    # The last trial finished within k units (1e-9: a sum of costs that is k units exactly).
    last = np.searchsorted(spent, unit * np.arange(1, units + 1) * (1 + 1e-9), side="right") - 1
    return np.where(last >= 0, best[np.maximum(last, 0)], np.nan)


def resource_fraction(reference: pd.DataFrame, table: pd.DataFrame) -> float:
    """The resource `table`'s strategy spent until its best-so-far reached the reference's
    final best, over the reference's total resource; inf when it never did."""
    total = float(reference["resource"].sum()) if "resource" in reference.columns else math.nan
    spent = resource_to_margin(table, float(best_so_far(reference).min()), 0.0)
    return spent / total if spent is not None and total > 0 else math.inf


RESOURCE_COLUMNS = ["strategy", "reference", "seeds", "reached", "median_fraction",
                    "q25_fraction", "q75_fraction"]


def resource_to_reference(tables: Mapping[str, Sequence[pd.DataFrame]],
                          reference: str = REFERENCE) -> pd.DataFrame:
    """Per multi-fidelity strategy: the resource it spent until its best-so-far reached the
    reference's final best of the same seed, as a fraction of the reference's total resource
    (paired by seed; a seed that never gets there counts as infinite). The quartiles are the
    lower ones (a value of a seed, never between an infinite and a finite one): a median of
    inf says most seeds never got there. Empty without the reference or a multi-fidelity
    strategy."""
    rows = []
    base = tables.get(reference) or []
    for strategy, seeds in tables.items():
        if strategy == reference or not seeds or not all(map(by_cost, seeds)) or not base:
            continue
        fractions = [resource_fraction(reference_table, table)
                     for table, reference_table in zip(seeds, base, strict=False)]
        q25, median, q75 = np.percentile(fractions, [25, 50, 75], method="lower")
        rows.append({"strategy": strategy, "reference": reference, "seeds": len(fractions),
                     "reached": int(np.isfinite(fractions).sum()), "median_fraction":
                     float(median), "q25_fraction": float(q25), "q75_fraction": float(q75)})
    return pd.DataFrame(rows, columns=RESOURCE_COLUMNS)


def nan_stats(values: np.ndarray, axis=None):
    """(median, 25th, 75th percentile) ignoring NaN (no ok trial yet), quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(values, axis=axis)
        q25, q75 = np.nanpercentile(values, [25, 75], axis=axis)
    return median, q25, q75


def paired_wilcoxon(values: np.ndarray, reference: np.ndarray, zero_method: str = "wilcox",
                    unit: str = "paired seed") -> tuple[float, float, str]:
    """scipy.stats.wilcoxon(values, reference, zero_method=...) on pairs by index (seeds;
    benchmarks for the suite, `unit` naming them in the note).

    Pairs with a NaN (a seed without an ok trial by then) drop out. Returns (statistic,
    p-value, note); NaN and a note when the test cannot run.
    """
    from scipy.stats import wilcoxon

    pairs = min(len(values), len(reference))
    x, y = np.asarray(values[:pairs], float), np.asarray(reference[:pairs], float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 2:
        return math.nan, math.nan, f"{len(x)} {unit}(s): at least 2 needed"
    if np.all(x - y == 0):
        return math.nan, math.nan, "all paired differences are zero"
    if zero_method == "wilcox" and np.count_nonzero(x - y) <= EXACT_PAIRS:
        return (*signed_rank_test(x - y), "")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = wilcoxon(x, y, zero_method=zero_method)
    except ValueError as error:
        return math.nan, math.nan, f"wilcoxon: {error}"
    return float(result.statistic), float(result.pvalue), ""


# Up to this many nonzero differences scipy's wilcoxon (method "auto") enumerates every sign
# pattern, exactly: a permutation test when there are ties or zeros, else the exact
# distribution, which gives the same p-value.
EXACT_PAIRS = 13


def signed_rank_test(differences: np.ndarray) -> tuple[float, float]:
    """(statistic, p-value) of the two-sided Wilcoxon signed-rank test, zeros dropped, as
    scipy.stats.wilcoxon(x, y) computes them for up to EXACT_PAIRS nonzero differences, but
    with every sign pattern's rank sum from one matrix product: scipy's permutation test
    (ties or zeros) recomputes the statistic, ranks and all, once per pattern, 0.5 CPU s a
    test with 10 seeds, and the verdict's tests at every budget made most of a report's CPU
    (measured: 150 of 243 s). Checked against scipy in tests/report/test_stats.py."""
    from scipy.stats import rankdata

    d = np.asarray(differences, float)
    d = d[d != 0]
    ranks = rankdata(np.abs(d))
    observed = float(ranks[d > 0].sum())
    patterns = (np.arange(2 ** len(d))[:, None] >> np.arange(len(d))) & 1
    sums = patterns @ ranks  # the positive rank sum of every sign pattern
    # scipy's permutation test counts a pattern as extreme within a relative tolerance.
    gamma = abs(np.finfo(float).eps * 100 * observed)
    less, greater = np.mean(sums <= observed + gamma), np.mean(sums >= observed - gamma)
    statistic = min(observed, float(ranks.sum()) - observed)
    return statistic, float(min(1.0, 2 * min(less, greater)))


def signed_rank_null_cdf(n: int) -> np.ndarray:
    """P(T+ <= t) for t = 0 .. n(n+1)/2: the exact null distribution of the Wilcoxon
    signed-rank statistic over n pairs without ties, by counting the subsets of the ranks
    1..n that sum to each t (each of the 2**n sign patterns equally likely)."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for rank in range(1, n + 1):  # a subset holds rank or not
        counts = counts + np.concatenate([np.zeros(rank), counts[:-rank]])
    return np.cumsum(counts) / 2.0 ** n


def hodges_lehmann(differences, confidence: float = 0.95) -> tuple[float, float, float]:
    """(estimate, low, high): the Hodges-Lehmann estimate of the paired differences' centre,
    the median of their Walsh averages (d_i + d_j) / 2 for i <= j, and the interval that
    inverts the two-sided signed-rank test (Hollander, Wolfe and Chicken, Nonparametric
    Statistical Methods, 3rd ed., section 3.3): the C-th smallest and C-th largest Walsh
    averages, C the largest count with P(T+ <= C - 1) <= (1 - confidence) / 2, so that it
    covers the centre with at least that confidence. It is how large a difference the seeds
    rule out. NaN bounds when there are too few pairs for that confidence (5 or fewer at
    95 %: the test cannot reject then); all NaN without a finite difference."""
    d = np.asarray(differences, float)
    d = d[np.isfinite(d)]
    if not len(d):
        return math.nan, math.nan, math.nan
    first, second = np.triu_indices(len(d))
    walsh = np.sort((d[first] + d[second]) / 2)
    estimate = float(np.median(walsh))
    count = int(np.sum(signed_rank_null_cdf(len(d)) <= (1 - confidence) / 2))
    if count == 0:
        return estimate, math.nan, math.nan
    return estimate, float(walsh[count - 1]), float(walsh[len(walsh) - count])


def repeats_table(curves: Mapping[str, np.ndarray], reference: str = REFERENCE) -> pd.DataFrame:
    """Per strategy: seeds, budget, median and IQR of the final best, median best at half the
    budget, and the paired Wilcoxon test against `reference` at the final budget and at half
    of it (the budget both strategies reached; half = that // 2, at least 1).
    """
    rows = []
    base = curves.get(reference)
    for strategy, curve in curves.items():
        budget = curve.shape[1]
        half = max(1, budget // 2)
        median, q25, q75 = nan_stats(curve[:, budget - 1])
        row: dict[str, Any] = {
            "strategy": strategy, "seeds": curve.shape[0], "budget": budget,
            "median_final_best": float(median), "q25_final_best": float(q25),
            "q75_final_best": float(q75), "half_budget": half,
            "median_half_best": float(nan_stats(curve[:, half - 1])[0]),
            "paired_seeds": math.nan, "median_diff_final": math.nan,
            "wilcoxon_final_statistic": math.nan, "wilcoxon_final_p": math.nan,
            "wilcoxon_half_statistic": math.nan, "wilcoxon_half_p": math.nan, "note": ""}
        if strategy == reference:
            row["note"] = "reference"
        elif base is None:
            row["note"] = f"no {reference} repeats to compare with"
        else:
            pairs = min(curve.shape[0], base.shape[0])
            shared = min(budget, base.shape[1])
            shared_half = max(1, shared // 2)
            notes = []
            if shared != budget:
                notes.append(f"tested at {shared} trials, {reference}'s budget")
            final = curve[:pairs, shared - 1] - base[:pairs, shared - 1]
            row["paired_seeds"] = pairs
            row["median_diff_final"] = float(nan_stats(final)[0]) if pairs else math.nan
            for label, at in (("final", shared), ("half", shared_half)):
                statistic, p, note = paired_wilcoxon(curve[:, at - 1], base[:, at - 1])
                row[f"wilcoxon_{label}_statistic"] = statistic
                row[f"wilcoxon_{label}_p"] = p
                if note:
                    notes.append(f"{label}: {note}")
            row["note"] = "; ".join(notes)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=REPEATS_COLUMNS)
    if len(frame):
        frame["paired_seeds"] = pd.array(
            [None if pd.isna(v) else int(v) for v in frame["paired_seeds"]], dtype="Int64")
    return frame

"""The verdict: did a strategy beat random search (and the quasi-random baseline), over the
repeated seeds, and can the report show it?

Each strategy is compared with each baseline present (Strategy.baseline: random, sobol) on seeds
paired by index (repeat r of both strategies), and with the first implementation of its method in
the study when a second library implements it ("which implementation?": Optuna's TPE against
hyperopt's, bayesian-optimization's GP against scikit-optimize's; Strategy.method). At
every budget (trials done) the comparison gets a paired two-sided Wilcoxon signed-rank test
(scipy.stats.wilcoxon), and the p-values of all the comparisons at that budget are corrected
together with Benjamini-Hochberg
(scipy.stats.false_discovery_control). The effect size a reader can check by eye is the share
of seeds on which the strategy's best was lower than the reference's, with a Wilson 95 %
interval (scipy.stats.binomtest); its size, the Hodges-Lehmann estimate of the paired difference
with the 95 % interval that inverts the same signed-rank test (stats.hodges_lehmann): beside a
"no detectable difference", how large a difference the seeds rule out. A difference *holds
from* the smallest budget from which every later budget's corrected p is below ALPHA, in the
direction of the full budget's.

Grid search has one result (it is deterministic): that value is compared with each seed of the
reference, which tests the reference's seeds against a constant.

With fewer than MIN_SEEDS paired seeds the verdict does not conclude. A two-sided signed-rank
test over n pairs cannot give p below 2 / 2**n, so `seeds_needed` says how many seeds could
show a difference that every seed agrees on, after correcting for the number of comparisons.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection, Mapping

import numpy as np
import pandas as pd

from hpstudy.report.stats import hodges_lehmann, nan_stats, paired_wilcoxon
from hpstudy.strategies import registry

ALPHA = 0.05
MIN_SEEDS = 5

VERDICT_COLUMNS = [
    "strategy", "reference", "seeds", "budget", "median_best", "q25_best", "q75_best",
    "reference_median_best", "reference_q25_best", "reference_q75_best", "median_difference",
    "difference_estimate", "difference_low", "difference_high", "wins", "losses", "ties",
    "win_share", "win_share_low", "win_share_high", "wilcoxon_p",
    "p_corrected", "significant", "holds_from_budget", "seeds_needed", "sentence"]


def seeds_needed(comparisons: int, alpha: float = ALPHA) -> int:
    """The fewest paired seeds with which a two-sided signed-rank test can reach p < alpha /
    comparisons (the smallest p it can give over n pairs is 2 / 2**n)."""
    n = 1
    while 2.0 / 2 ** n >= alpha / max(1, comparisons):
        n += 1
    return n


def comparisons_of(curves: Mapping[str, np.ndarray],
                   methods: Mapping[str, str | None] | None = None) -> list[tuple[str, str]]:
    """(strategy, reference) pairs, in the order of `curves`: each reference present against
    every other strategy (random against sobol once, as sobol's comparison), then each
    implementation of a method ({strategy: its method}) against the first of that method."""
    # The baselines in the registry's order, by name (random, then sobol): it orders the
    # table's rows and so the report's text.
    references = [name for name, strategy in registry().items()
                  if strategy.baseline and name in curves]
    pairs = []
    for reference in references:
        for strategy in curves:
            if strategy == reference or (strategy in references and
                                         references.index(strategy) < references.index(reference)):
                continue
            pairs.append((strategy, reference))
    first: dict[str, str] = {}
    for strategy in curves:
        method = (methods or {}).get(strategy)
        if method is not None and first.setdefault(method, strategy) != strategy:
            pairs.append((strategy, first[method]))
    return pairs


def _paired(curve: np.ndarray, base: np.ndarray, at: int) -> tuple[np.ndarray, np.ndarray]:
    """The strategy's and the reference's best after `at` trials, on paired seeds; a single
    (deterministic) row is paired with every seed of the other side."""
    x, y = curve[:, at - 1], base[:, at - 1]
    if len(x) == 1 and len(y) > 1:
        x = np.repeat(x, len(y))
    elif len(y) == 1 and len(x) > 1:
        y = np.repeat(y, len(x))
    pairs = min(len(x), len(y))
    x, y = np.asarray(x[:pairs], float), np.asarray(y[:pairs], float)
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _corrected(p_values: list[float]) -> list[float]:
    """Benjamini-Hochberg over the comparisons that have a p-value; NaN stays NaN."""
    from scipy.stats import false_discovery_control

    values = np.asarray(p_values, float)
    out = np.full(len(values), math.nan)
    finite = np.isfinite(values)
    if finite.any():
        out[finite] = false_discovery_control(values[finite], method="bh")
    return out.tolist()


def _win_share(wins: int, seeds: int) -> tuple[float, float, float]:
    from scipy.stats import binomtest

    if seeds == 0:
        return math.nan, math.nan, math.nan
    interval = binomtest(wins, seeds).proportion_ci(confidence_level=0.95, method="wilson")
    return wins / seeds, float(interval.low), float(interval.high)


def _p_at(curves, pairs, at_budget) -> list[float]:
    p_values = []
    for strategy, reference in pairs:
        if at_budget > min(curves[strategy].shape[1], curves[reference].shape[1]):
            p_values.append(math.nan)  # past this comparison's budget: not in the family
            continue
        x, y = _paired(curves[strategy], curves[reference], at_budget)
        p_values.append(paired_wilcoxon(x, y)[1] if len(x) >= MIN_SEEDS else math.nan)
    return p_values


def verdict_table(curves: Mapping[str, np.ndarray], alpha: float = ALPHA,
                  methods: Mapping[str, str | None] | None = None,
                  by_cost: Collection[str] = ()) -> pd.DataFrame:
    """One row per (strategy, reference) comparison, with its plain sentence.

    curves: {strategy: seeds x trials array of best-so-far} (hpstudy.report.stats
    .repeat_curves; grid with its one row); methods: {strategy: Strategy.method}; by_cost:
    the strategies whose curve is by resource spent, in full evaluations' worth
    (stats.cost_curve: multi-fidelity ones), so that their budget is that many evaluations'
    cost. Comparisons run at the budget both strategies reached.
    """
    pairs = comparisons_of(curves, methods)
    if not pairs:
        return pd.DataFrame(columns=VERDICT_COLUMNS)
    budgets = [min(curves[s].shape[1], curves[r].shape[1]) for s, r in pairs]
    # Raw and corrected p-values at every budget: the family is all comparisons at that budget.
    raw = {b: _p_at(curves, pairs, b) for b in range(1, max(budgets) + 1)}
    by_budget = {b: _corrected(p_values) for b, p_values in raw.items()}
    needed = seeds_needed(len(pairs), alpha)
    rows = []
    for index, ((strategy, reference), budget) in enumerate(zip(pairs, budgets, strict=True)):
        x, y = _paired(curves[strategy], curves[reference], budget)
        seeds = len(x)
        wins, losses = int(np.sum(x < y)), int(np.sum(x > y))
        share, low, high = _win_share(wins, seeds)
        p = raw[budget][index]
        p_corrected = by_budget[budget][index]
        significant = bool(seeds >= MIN_SEEDS and p_corrected < alpha)
        difference = float(nan_stats(x - y)[0]) if seeds else math.nan
        estimate, low_difference, high_difference = hodges_lehmann(x - y)
        holds_from = _holds_from(by_budget, index, budget, curves[strategy],
                                 curves[reference], difference, alpha) if significant else None
        median, q25, q75 = nan_stats(x) if seeds else (math.nan,) * 3
        ref_median, ref_q25, ref_q75 = nan_stats(y) if seeds else (math.nan,) * 3
        row = {
            "strategy": strategy, "reference": reference, "seeds": seeds, "budget": budget,
            "median_best": float(median), "q25_best": float(q25), "q75_best": float(q75),
            "reference_median_best": float(ref_median), "reference_q25_best": float(ref_q25),
            "reference_q75_best": float(ref_q75), "median_difference": difference,
            "difference_estimate": estimate, "difference_low": low_difference,
            "difference_high": high_difference, "wins": wins, "losses": losses,
            "ties": seeds - wins - losses,
            "win_share": share, "win_share_low": low, "win_share_high": high,
            "wilcoxon_p": p, "p_corrected": p_corrected, "significant": significant,
            "holds_from_budget": holds_from, "seeds_needed": needed}
        row["sentence"] = sentence(row, len(pairs), deterministic=curves[strategy].shape[0] == 1,
                                   alpha=alpha, unit=COST_UNIT if strategy in by_cost
                                   else "trials")
        rows.append(row)
    frame = pd.DataFrame(rows, columns=VERDICT_COLUMNS)
    frame["holds_from_budget"] = pd.array(frame["holds_from_budget"].tolist(), dtype="Int64")
    return frame


def _holds_from(by_budget, index, budget, curve, base, difference, alpha) -> int:
    """The smallest budget from which every budget up to `budget` is significant in the
    direction of the final difference."""
    start = budget
    for at in range(budget, 0, -1):
        x, y = _paired(curve, base, at)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            same_side = len(x) and np.sign(np.nanmedian(x - y)) == np.sign(difference)
        if not (by_budget[at][index] < alpha and same_side):
            break
        start = at
    return start


def _fmt(value: float) -> str:
    return f"{value:.3g}"


# A multi-fidelity strategy's budget in the sentences: trials cost what their fidelity costs.
COST_UNIT = "full evaluations' worth of resource"


def sentence(row: Mapping, comparisons: int, deterministic: bool = False,
             alpha: float = ALPHA, unit: str = "trials") -> str:
    """The comparison in one plain sentence; budgets in `unit` (trials, or COST_UNIT)."""
    strategy, reference, seeds = row["strategy"], row["reference"], row["seeds"]
    if seeds == 0:  # more seeds would not help: no trial finished ok to compare
        return (f"Cannot conclude on {strategy} against {reference}: no seed has an ok trial "
                f"on both sides by {row['budget']} {unit}.")
    if seeds < MIN_SEEDS:
        return (f"Cannot conclude on {strategy} against {reference}: {seeds} paired seed(s), "
                f"fewer than {MIN_SEEDS}; a paired test over {comparisons} comparison(s) needs "
                f"at least {row['seeds_needed']} seeds to be able to show a difference "
                f"(set repeats: {row['seeds_needed']}).")
    medians = (f"median best {_fmt(row['median_best'])} against "
               f"{_fmt(row['reference_median_best'])}")
    tests = (f"Wilcoxon p = {_fmt(row['wilcoxon_p'])}, {_fmt(row['p_corrected'])} corrected "
             f"for {comparisons} comparison(s)")
    if math.isnan(row["wilcoxon_p"]):
        tests = "no test: every paired difference is zero"
    constant = f"; {strategy} is deterministic: its one result against each seed" \
        if deterministic else ""
    size = _difference(row, strategy, reference)
    if row["significant"]:
        better = row["median_difference"] < 0
        winner, loser = (strategy, reference) if better else (reference, strategy)
        count = row["wins"] if better else row["losses"]
        return (f"{winner} beat {loser} on {count} of {seeds} seeds ({_share(count, seeds)})"
                f" at {row['budget']} {unit} ({medians}; {tests}{constant}); the difference "
                f"holds from {row['holds_from_budget']} {unit} on. {size}")
    reason = ""
    if seeds < row["seeds_needed"]:
        reason = (f" With {seeds} seeds the smallest p a paired test can give is "
                  f"{_fmt(2.0 / 2 ** seeds)}; {row['seeds_needed']} seeds keep it below "
                  f"{alpha:g} / {comparisons} comparisons.")
    return (f"No detectable difference between {strategy} and {reference} at "
            f"{row['budget']} {unit}: {strategy} was better on {row['wins']} of {seeds} "
            f"seeds ({_share(row['wins'], seeds)}) ({medians}; {tests}{constant}). {size}"
            f"{reason}")


def _difference(row: Mapping, strategy: str, reference: str) -> str:
    """The paired difference's size: the Hodges-Lehmann estimate and its 95 % interval."""
    estimate = (f"{strategy} minus {reference}, paired by seed: {_fmt(row['difference_estimate'])}"
                f" (Hodges-Lehmann)")
    if math.isnan(row["difference_low"]):
        return f"{estimate}; too few seeds for a 95 % interval."
    return (f"{estimate}, 95 % CI {_fmt(row['difference_low'])} to "
            f"{_fmt(row['difference_high'])}.")


def _share(count: int, seeds: int) -> str:
    share, low, high = _win_share(count, seeds)
    return f"{100 * share:.0f} %, 95 % CI {100 * low:.0f}-{100 * high:.0f} %"

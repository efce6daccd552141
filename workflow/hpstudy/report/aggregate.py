"""The benchmark suite's answer across benchmarks, on normalised regret: which strategy is
better over tasks, by how much, how sure, and at which budget.

Normalised regret (normalised_curves): per benchmark, a regret curve (hpstudy.report.suite)
divided by the largest regret any incumbent of any strategy and seed held on that benchmark,
so that 0 is the optimum and 1 the worst incumbent seen there; a seed without an ok trial yet
counts as 1. Each benchmark then weighs the same whatever its units.

What is computed from it, following Benavoli, Corani and Mangili (JMLR 17(5), 2016) and
Agarwal et al. (NeurIPS 2021, the rliable library):
- task_means: per benchmark and strategy, the mean final normalised regret over seeds. The
  tests across benchmarks work on these, one number per task, not on pooled seeds.
- pairwise_table: for each pair of strategies, the Wilcoxon signed-rank test over benchmarks
  on their task means (scipy.stats.wilcoxon; zero differences split between the signs, as in
  Demšar 2006, section 3.1.3), p-values corrected for all pairs by Holm's step-down method;
  the Hodges-Lehmann estimate of the task-mean difference with its 95 % interval; and the
  probability of improvement (the chance that a run of one strategy ends with less regret than
  a run of the other on the same benchmark, ties counted half, averaged over benchmarks) with
  a stratified bootstrap interval.
- aggregate_table: per strategy, the interquartile mean (IQM, the mean of the middle 50 %;
  scipy.stats.trim_mean at 0.25) over every benchmark and seed of the final normalised regret
  and of its area under the curve (the mean normalised regret over trials 1..budget:
  anytime performance, 0 = the optimum from the first trial), each with a 95 % stratified
  bootstrap interval (seeds resampled within each benchmark, percentile interval).
- kind_table: the same average ranks within each kind of benchmark (test functions, tabular
  benchmarks, architecture search, surrogates: Objective.kind), where the kinds differ.
- cliques: the groups of strategies, adjacent by average rank, that no corrected test tells
  apart: the bars of the critical-difference diagram.
Every random draw comes from the seed given (the suite config's).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from hpstudy.report.stats import hodges_lehmann, paired_wilcoxon

ALPHA = 0.05
CONFIDENCE = 0.95
BOOTSTRAP_REPS = 2000
PAIRWISE_COLUMNS = [
    "strategy", "other", "benchmarks", "wins", "losses", "ties", "statistic", "p_value",
    "p_holm", "significant", "difference_estimate", "difference_low", "difference_high",
    "probability_of_improvement", "improvement_low", "improvement_high", "note"]
KIND_COLUMNS = ["kind", "benchmarks", "strategy", "average_rank", "mean_task_mean"]
AGGREGATE_COLUMNS = [
    "strategy", "benchmarks", "runs", "average_rank", "iqm_final", "iqm_final_low",
    "iqm_final_high", "iqm_auc", "iqm_auc_low", "iqm_auc_high"]


def normalised_curves(curves: Mapping[str, Mapping[str, np.ndarray]]
                      ) -> dict[str, dict[str, np.ndarray]]:
    """suite.regret_curves divided, per benchmark, by the largest finite regret in any of its
    curves (0 everywhere when that is 0: every incumbent was at the optimum); NaN (no result
    yet) becomes 1, the worst."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for benchmark, strategies in curves.items():
        values = np.concatenate([np.asarray(c, float).ravel() for c in strategies.values()])
        finite = values[np.isfinite(values)]
        scale = float(finite.max()) if len(finite) else 0.0
        out[benchmark] = {}
        for strategy, curve in strategies.items():
            curve = np.asarray(curve, float)
            scaled = np.zeros_like(curve) if scale <= 0 else curve / scale
            out[benchmark][strategy] = np.where(np.isnan(curve), 1.0, np.clip(scaled, 0, 1))
    return out


def complete_block(ran: Mapping[str, Iterable[str]]) -> tuple[list[str], list[str]]:
    """(benchmarks, strategies) that the comparisons across benchmarks use, from {benchmark:
    the strategies that ran on it}: ranks and paired tests need every strategy on every
    benchmark (complete blocks). A strategy that some benchmarks cannot run (CMA-ES on a
    space of choices only) leaves those benchmarks out; one that ran on fewer than half of
    them is left out instead. Both in order of first appearance."""
    ran = {benchmark: list(strategies) for benchmark, strategies in ran.items()}
    seen = list(dict.fromkeys(s for strategies in ran.values() for s in strategies))
    kept = [s for s in seen
            if 2 * sum(s in strategies for strategies in ran.values()) >= len(ran)]
    benchmarks = [b for b, strategies in ran.items() if set(kept) <= set(strategies)]
    return benchmarks, kept


def complete_strategies(curves: Mapping[str, Mapping[str, np.ndarray]]) -> list[str]:
    """The strategies of the complete block (complete_block), in order of first appearance."""
    return complete_block(curves)[1]


def final_scores(normalised: Mapping[str, Mapping[str, np.ndarray]]
                 ) -> dict[str, dict[str, np.ndarray]]:
    """{benchmark: {strategy: each seed's final normalised regret}}."""
    return {b: {s: c[:, -1] for s, c in strategies.items()} for b, strategies in
            normalised.items()}


def auc_scores(normalised: Mapping[str, Mapping[str, np.ndarray]]
               ) -> dict[str, dict[str, np.ndarray]]:
    """{benchmark: {strategy: each seed's area under its normalised regret curve}}: the
    mean over trials 1..budget, in [0, 1]."""
    return {b: {s: c.mean(axis=1) for s, c in strategies.items()} for b, strategies in
            normalised.items()}


def task_means(scores: Mapping[str, Mapping[str, np.ndarray]], strategies: Sequence[str]
               ) -> pd.DataFrame:
    """benchmarks x strategies: the mean over seeds of each run's score."""
    return pd.DataFrame([[float(np.mean(scores[b][s])) for s in strategies] for b in scores],
                        index=list(scores), columns=list(strategies))


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979), in the order given: the i-th smallest
    p times (m - i + 1), made non-decreasing in that order, capped at 1. NaN stays NaN and
    does not count in m."""
    p = np.asarray(p_values, float)
    adjusted = np.full(len(p), math.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    running = 0.0
    for position, index in enumerate(order):
        running = max(running, (len(order) - position) * p[index])
        adjusted[index] = min(1.0, running)
    return adjusted


def iqm(values, axis=None):
    """The interquartile mean: the mean of the middle 50 % (scipy.stats.trim_mean, 25 % cut
    from each end)."""
    from scipy.stats import trim_mean

    return trim_mean(values, 0.25, axis=axis)


def _resampled(values: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """reps x len(values): each row a resample of values with replacement."""
    return values[rng.integers(0, len(values), size=(reps, len(values)))]


def stratified_bootstrap_iqm(runs: Sequence[np.ndarray], seed: int,
                             reps: int = BOOTSTRAP_REPS, confidence: float = CONFIDENCE
                             ) -> tuple[float, float, float]:
    """(IQM, low, high): the IQM of every run of every benchmark (runs: one array of seeds'
    scores per benchmark) and its percentile interval over reps stratified resamples (each
    benchmark's seeds resampled with replacement, the benchmarks kept)."""
    runs = [np.asarray(r, float) for r in runs if len(r)]
    if not runs:
        return math.nan, math.nan, math.nan
    point = float(iqm(np.concatenate(runs)))
    rng = np.random.default_rng(seed)
    samples = iqm(np.hstack([_resampled(r, reps, rng) for r in runs]), axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return point, float(low), float(high)


def _less_probability(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(a run of x < a run of y), ties half, over the last two axes' pairs."""
    difference = x[..., :, None] - y[..., None, :]
    return (difference < 0).mean(axis=(-2, -1)) + 0.5 * (difference == 0).mean(axis=(-2, -1))


def probability_of_improvement(x: Sequence[np.ndarray], y: Sequence[np.ndarray], seed: int,
                               reps: int = BOOTSTRAP_REPS, confidence: float = CONFIDENCE
                               ) -> tuple[float, float, float]:
    """(estimate, low, high): the mean over benchmarks of P(a run of x ends below a run of y),
    ties counted half (per benchmark the Mann-Whitney U of x against y over n_x n_y), with a
    percentile interval over stratified resamples of each strategy's seeds per benchmark. x,
    y: per benchmark, the seeds' final scores (lower is better)."""
    pairs = [(np.asarray(a, float), np.asarray(b, float)) for a, b in zip(x, y, strict=True)
             if len(a) and len(b)]
    if not pairs:
        return math.nan, math.nan, math.nan
    point = float(np.mean([_less_probability(a, b) for a, b in pairs]))
    rng = np.random.default_rng(seed)
    samples = np.mean([_less_probability(_resampled(a, reps, rng), _resampled(b, reps, rng))
                       for a, b in pairs], axis=0)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return point, float(low), float(high)


def pairwise_table(finals: Mapping[str, Mapping[str, np.ndarray]], order: Sequence[str],
                   seed: int, alpha: float = ALPHA) -> pd.DataFrame:
    """One row per pair of strategies (order: best average rank first; the better first in
    each pair), tested over benchmarks on task means (PAIRWISE_COLUMNS). The difference is
    strategy minus other, in normalised regret: below 0, `strategy` did better."""
    means = task_means(finals, order)
    rows = []
    for index, (strategy, other) in enumerate(combinations(order, 2)):
        x, y = means[strategy].to_numpy(), means[other].to_numpy()
        # Zero differences split between the signs, as in Demšar's worked example.
        statistic, p, note = paired_wilcoxon(x, y, zero_method="zsplit", unit="benchmark")
        estimate, low, high = hodges_lehmann(x - y, CONFIDENCE)
        poi = probability_of_improvement([finals[b][strategy] for b in finals],
                                         [finals[b][other] for b in finals], seed + index)
        rows.append({"strategy": strategy, "other": other, "benchmarks": len(x),
                     "wins": int(np.sum(x < y)), "losses": int(np.sum(x > y)),
                     "ties": int(np.sum(x == y)), "statistic": statistic, "p_value": p,
                     "difference_estimate": estimate, "difference_low": low,
                     "difference_high": high, "probability_of_improvement": poi[0],
                     "improvement_low": poi[1], "improvement_high": poi[2], "note": note})
    frame = pd.DataFrame(rows, columns=PAIRWISE_COLUMNS)
    frame["p_holm"] = holm(frame["p_value"].to_numpy(float)) if len(frame) else []
    frame["significant"] = pd.array([None if math.isnan(p) else bool(p < alpha)
                                     for p in frame["p_holm"]], dtype="boolean")
    return frame


def cliques(order: Sequence[str], pairwise: pd.DataFrame) -> list[list[str]]:
    """The maximal runs of strategies, adjacent in `order` (by average rank), in which no pair
    differs significantly (p_holm not below alpha, or untested): the critical-difference
    diagram's bars. Runs of one strategy are left out."""
    different = {frozenset((r.strategy, r.other)) for r in pairwise.itertuples()
                 if r.significant is not pd.NA and bool(r.significant)}
    runs: list[list[str]] = []
    for start in range(len(order)):
        end = start
        while end + 1 < len(order) and all(
                frozenset((order[i], order[end + 1])) not in different
                for i in range(start, end + 1)):
            end += 1
        run = list(order[start:end + 1])
        if len(run) > 1 and not any(set(run) <= set(r) for r in runs):
            runs.append(run)
    return runs


def average_ranks(means: pd.DataFrame) -> pd.Series:
    """Each strategy's average over benchmarks of its rank by task mean (1 = least regret,
    ties averaged), best first."""
    from scipy.stats import rankdata

    ranks = np.vstack([rankdata(row) for row in means.to_numpy(float)])
    return pd.Series(ranks.mean(axis=0), index=means.columns).sort_values(kind="stable")


def aggregate_table(finals: Mapping[str, Mapping[str, np.ndarray]],
                    aucs: Mapping[str, Mapping[str, np.ndarray]], ranks: pd.Series,
                    seed: int) -> pd.DataFrame:
    """Per strategy (ranks: average_ranks, in its order), the IQM of the final normalised
    regret and of its area under the curve over every benchmark's seeds, each with its
    stratified bootstrap interval, and its average rank by task mean (AGGREGATE_COLUMNS)."""
    rows: list[dict[str, Any]] = []
    for index, strategy in enumerate(ranks.index):
        final = [finals[b][strategy] for b in finals]
        auc = [aucs[b][strategy] for b in aucs]
        row = {"strategy": strategy, "benchmarks": len(final),
               "runs": int(sum(len(r) for r in final)), "average_rank": float(ranks[strategy])}
        for name, runs, offset in (("final", final, 0), ("auc", auc, 1)):
            point, low, high = stratified_bootstrap_iqm(runs, seed + 2 * index + offset)
            row.update({f"iqm_{name}": point, f"iqm_{name}_low": low,
                        f"iqm_{name}_high": high})
        rows.append(row)
    return pd.DataFrame(rows, columns=AGGREGATE_COLUMNS)


def kind_table(means: pd.DataFrame, kinds: Mapping[str, str]) -> pd.DataFrame:
    """Per kind of benchmark (kinds: {benchmark: kind}, in order of first appearance) and
    strategy, best first: the average over that kind's benchmarks of the strategy's rank by
    task mean (ranked among all strategies) and of its task mean (KIND_COLUMNS)."""
    from scipy.stats import rankdata

    ranks = pd.DataFrame(np.vstack([rankdata(row) for row in means.to_numpy(float)]),
                         index=means.index, columns=means.columns)
    rows = []
    for kind in dict.fromkeys(kinds[b] for b in means.index):
        mine = [b for b in means.index if kinds[b] == kind]
        average = ranks.loc[mine].mean(axis=0).sort_values(kind="stable")
        for strategy, rank in average.items():
            rows.append({"kind": kind, "benchmarks": len(mine), "strategy": strategy,
                         "average_rank": float(rank),
                         "mean_task_mean": float(means.loc[mine, strategy].mean())})
    return pd.DataFrame(rows, columns=KIND_COLUMNS)

"""hpstudy.report.aggregate: each statistic against an answer known independently of it (a
published worked example, scipy's own function, a hand count, or an exact enumeration)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu, trim_mean, wilcoxon

from hpstudy.report.aggregate import (
    aggregate_table,
    auc_scores,
    average_ranks,
    cliques,
    complete_block,
    final_scores,
    holm,
    iqm,
    kind_table,
    normalised_curves,
    pairwise_table,
    probability_of_improvement,
    stratified_bootstrap_iqm,
    task_means,
)

# Demšar (2006), Table 2: AUC of C4.5 and of C4.5 with m tuned on 14 data sets. His worked
# Wilcoxon example (section 3.1.3): R+ = 93, R- = 12, T = 12 (zero differences split), below
# the critical value 21 for N = 14 at alpha 0.05.
C45 = [.763, .599, .954, .628, .882, .936, .661, .583, .775, 1.0, .940, .619, .972, .957]
C45_M = [.768, .591, .971, .661, .888, .931, .668, .583, .838, 1.0, .962, .666, .981, .978]


def one_seed_each(columns: dict[str, list[float]]) -> dict[str, dict[str, np.ndarray]]:
    """finals with one seed per benchmark and strategy: the task mean is the value."""
    count = len(next(iter(columns.values())))
    return {f"b{i}": {s: np.array([values[i]]) for s, values in columns.items()}
            for i in range(count)}


def test_normalised_regret_divides_by_the_worst_incumbent_and_counts_no_result_as_one():
    curves = {"a": {"s": np.array([[4.0, 2.0, 1.0], [math.nan, 8.0, 0.0]]),
                    "t": np.array([[2.0, 2.0, 2.0]])},
              "solved": {"s": np.array([[0.0, 0.0]]), "t": np.array([[0.0, 0.0]])}}
    normalised = normalised_curves(curves)
    assert normalised["a"]["s"].tolist() == [[0.5, 0.25, 0.125], [1.0, 1.0, 0.0]]
    assert normalised["a"]["t"].tolist() == [[0.25, 0.25, 0.25]]
    assert normalised["solved"]["s"].tolist() == [[0.0, 0.0]]
    assert final_scores(normalised)["a"]["s"].tolist() == [0.125, 0.0]
    # The area under the curve: the mean over trials (by hand: (1 + .5 + .5 + 0) / 4).
    assert auc_scores({"b": {"s": np.array([[1.0, 0.5, 0.5, 0.0]])}})["b"]["s"].tolist() \
        == [0.5]


def test_holm_matches_a_hand_computed_example():
    # Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> 0.06
    # (never below the step before it).
    assert holm([0.01, 0.04, 0.03, 0.005]).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]).tolist() == [1.0, 1.0]
    adjusted = holm([0.01, math.nan, 0.02])
    assert math.isnan(adjusted[1]) and adjusted[[0, 2]].tolist() == pytest.approx([0.02, 0.02])


def test_the_signed_rank_test_over_benchmarks_reproduces_demsars_worked_example():
    # Lower is better here, so the AUCs go in negated: C4.5+m wins 10, loses 2, ties 2.
    finals = one_seed_each({"c45m": [-v for v in C45_M], "c45": [-v for v in C45]})
    table = pairwise_table(finals, ["c45m", "c45"], seed=1)
    row = table.iloc[0]
    assert (row["benchmarks"], row["wins"], row["losses"], row["ties"]) == (14, 10, 2, 2)
    assert row["statistic"] == 12.0  # T = min(R+, R-) = min(93, 12)
    assert row["p_value"] == pytest.approx(wilcoxon(C45_M, C45, zero_method="zsplit").pvalue)
    assert row["p_value"] < 0.05 and row["p_holm"] == row["p_value"] and row["significant"]
    # Hodges-Lehmann of the differences: negative (c45m ends lower), its interval too.
    assert row["difference_high"] < 0 and row["difference_low"] <= row["difference_estimate"]


def test_pairwise_tests_are_holm_corrected_together_and_cliques_follow_them():
    rng = np.random.default_rng(5)
    base = rng.uniform(0.2, 0.8, 12)
    columns = {"tpe": base - 0.15, "gp": base - 0.15 + rng.normal(0, 0.02, 12),
               "random": base}
    finals = one_seed_each({s: list(v) for s, v in columns.items()})
    order = list(average_ranks(task_means(finals, list(columns))).index)
    assert order[-1] == "random"
    table = pairwise_table(finals, order, seed=2).set_index(["strategy", "other"])
    raw = [wilcoxon(columns[a], columns[b], zero_method="zsplit").pvalue
           for a, b in itertools.combinations(order, 2)]
    assert table["p_value"].tolist() == pytest.approx(raw)
    assert table["p_holm"].tolist() == pytest.approx(holm(raw).tolist())
    # tpe and gp: the same but for noise: not told apart; each beats random on all 12.
    assert table["significant"].tolist() == [False, True, True]
    assert cliques(order, table.reset_index()) == [order[:2]]


def test_cliques_are_maximal_runs_without_a_significant_pair():
    order = ["a", "b", "c", "d"]

    def pairs(significant):
        return pd.DataFrame(
            [{"strategy": x, "other": y, "significant": frozenset((x, y)) in significant}
             for x, y in itertools.combinations(order, 2)]).astype({"significant": "boolean"})

    split = {frozenset(p) for p in (("a", "c"), ("a", "d"), ("b", "d"))}
    assert cliques(order, pairs(split)) == [["a", "b"], ["b", "c"], ["c", "d"]]
    assert cliques(order, pairs(set())) == [order]
    every = {frozenset(p) for p in itertools.combinations(order, 2)}
    assert cliques(order, pairs(every)) == []


def test_iqm_is_scipys_trimmed_mean():
    assert iqm(np.arange(1.0, 9.0)) == 4.5  # by hand: the mean of 3, 4, 5, 6
    values = np.random.default_rng(0).exponential(size=40)
    assert iqm(values) == pytest.approx(trim_mean(values, 0.25))


def exact_tail_probabilities(runs, value):
    """P(IQM < value), P(IQM <= value) over every stratified resample, enumerated."""
    below = at_most = total = 0
    for picks in itertools.product(*[itertools.product(r, repeat=len(r)) for r in runs]):
        statistic = trim_mean(np.concatenate([np.array(p) for p in picks]), 0.25)
        total += 1
        below += statistic < value - 1e-12
        at_most += statistic <= value + 1e-12
    return below / total, at_most / total


def test_the_stratified_bootstrap_interval_matches_the_exact_resampling_distribution():
    # Two benchmarks of three seeds: 27 x 27 equally likely stratified resamples, enumerated.
    runs = [np.array([0.1, 0.4, 0.9]), np.array([0.2, 0.3, 0.8])]
    point, low, high = stratified_bootstrap_iqm(runs, seed=3, reps=20000)
    assert point == pytest.approx(trim_mean(np.concatenate(runs), 0.25))
    # Each bound is a 2.5 % / 97.5 % quantile of the exact distribution, up to Monte Carlo
    # error (sd ~0.001 at 20,000 draws) and the distribution's atoms.
    below, at_most = exact_tail_probabilities(runs, low)
    assert below <= 0.025 + 0.005 and at_most >= 0.025 - 0.005
    below, at_most = exact_tail_probabilities(runs, high)
    assert below <= 0.975 + 0.005 and at_most >= 0.975 - 0.005
    assert stratified_bootstrap_iqm(runs, seed=3) == stratified_bootstrap_iqm(runs, seed=3)


def test_probability_of_improvement_is_the_mann_whitney_u_averaged_over_benchmarks():
    rng = np.random.default_rng(8)
    x = [rng.normal(0.0, 1.0, 10), rng.integers(0, 3, 7).astype(float)]  # ties in the second
    y = [rng.normal(0.5, 1.0, 10), rng.integers(0, 3, 9).astype(float)]
    estimate, low, high = probability_of_improvement(x, y, seed=4)
    # U of y against x counts the pairs with y > x, ties half: x's runs ending lower.
    expected = np.mean([mannwhitneyu(b, a).statistic / (len(a) * len(b))
                        for a, b in zip(x, y, strict=True)])
    assert estimate == pytest.approx(expected)
    assert low <= estimate <= high
    assert probability_of_improvement([np.zeros(3)], [np.ones(4)], seed=0) == (1.0, 1.0, 1.0)


def test_the_aggregate_table_holds_each_strategys_iqm_and_rank():
    finals = {"b0": {"s": np.array([0.0, 0.2, 0.4, 0.6]), "t": np.array([0.5, 0.5, 0.7, 0.9])},
              "b1": {"s": np.array([0.1, 0.1, 0.3, 0.3]), "t": np.array([0.0, 0.0, 0.2, 0.2])}}
    aucs = {b: {s: v / 2 for s, v in strategies.items()} for b, strategies in finals.items()}
    ranks = average_ranks(task_means(finals, ["s", "t"]))
    table = aggregate_table(finals, aucs, ranks, seed=6).set_index("strategy")
    # Task means: b0 s 0.3 < t 0.65, b1 s 0.2 > t 0.1: one win each, rank 1.5 each.
    assert table["average_rank"].tolist() == [1.5, 1.5]
    assert table.loc["s", "iqm_final"] == pytest.approx(
        trim_mean([0.0, 0.2, 0.4, 0.6, 0.1, 0.1, 0.3, 0.3], 0.25))
    assert table.loc["t", "iqm_auc"] == pytest.approx(table.loc["t", "iqm_final"] / 2)
    assert (table["runs"].tolist(), table["benchmarks"].tolist()) == ([8, 8], [2, 2])
    assert (table["iqm_final_low"] <= table["iqm_final"]).all()
    assert (table["iqm_final"] <= table["iqm_final_high"]).all()


def test_ranks_by_kind_average_each_kinds_benchmarks_ranks_among_all_strategies():
    means = pd.DataFrame({"gp": [0.1, 0.2, 0.9], "tpe": [0.3, 0.1, 0.5],
                          "random": [0.5, 0.6, 0.1]}, index=["branin", "hartmann6", "naval"])
    kinds = {"branin": "test function", "hartmann6": "test function",
             "naval": "tabular benchmark"}
    table = kind_table(means, kinds)
    # By hand: branin ranks gp 1, tpe 2, random 3; hartmann6 tpe 1, gp 2, random 3; naval
    # random 1, tpe 2, gp 3.
    functions = table[table["kind"] == "test function"]
    assert list(zip(functions["strategy"], functions["average_rank"], strict=True)) == [
        ("gp", 1.5), ("tpe", 1.5), ("random", 3.0)]
    assert functions["mean_task_mean"].tolist() == pytest.approx([0.15, 0.2, 0.55])
    tabular = table[table["kind"] == "tabular benchmark"]
    assert tabular["strategy"].tolist() == ["random", "tpe", "gp"]
    assert set(table["benchmarks"]) == {2, 1}


def test_the_complete_block_leaves_out_what_a_strategy_could_not_run_not_the_strategy():
    """Ranks and paired tests need every strategy on every benchmark compared. CMA-ES cannot
    run on a space of choices only (NAS-Bench-201): those benchmarks are left out, not
    CMA-ES. A strategy that ran on fewer than half the benchmarks is left out instead."""
    everything = ["random", "tpe", "cmaes"]
    assert complete_block({"b1": everything, "b2": everything}) == (["b1", "b2"], everything)
    ran = {"f1": everything, "nas1": ["random", "tpe"], "f2": ["tpe", "cmaes", "random"],
           "nas2": ["random", "tpe"], "f3": everything}
    assert complete_block(ran) == (["f1", "f2", "f3"], everything)
    ran = {"b1": ["random", "tpe", "late"], "b2": ["random", "tpe"], "b3": ["random", "tpe"]}
    assert complete_block(ran) == (["b1", "b2", "b3"], ["random", "tpe"])
    # Exactly half: kept, and the other half of the benchmarks left out.
    assert complete_block({"b1": ["a", "b"], "b2": ["a"]}) == (["b1"], ["a", "b"])

"""The report's verdict (hpstudy.report.verdict) and setup section
(hpstudy.report.setup_section): statistics checked against scipy on curves whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import false_discovery_control, wilcoxon

from hpstudy.report.setup_section import setup_table
from hpstudy.report.verdict import ALPHA, MIN_SEEDS, seeds_needed, verdict_table

BUDGET = 8


def curves_with(shift: float, seeds: int = 7, start: int = 0, seed: int = 0) -> np.ndarray:
    """seeds x BUDGET best-so-far curves of noisy objectives; from trial `start` on, the
    objectives are lower by `shift`."""
    values = np.random.default_rng(seed).normal(0.0, 1.0, (seeds, BUDGET))
    values[:, start:] -= shift
    return np.minimum.accumulate(values, axis=1)


def test_seeds_needed_is_the_fewest_with_which_scipy_can_reach_the_corrected_level():
    for comparisons in (1, 2, 3, 7):
        needed = seeds_needed(comparisons)
        unanimous = [wilcoxon(np.arange(1.0, n + 1)).pvalue for n in (needed - 1, needed)]
        assert unanimous[0] >= ALPHA / comparisons > unanimous[1], comparisons
    assert seeds_needed(3) == 7  # the default config's repeats (config.yaml says why)


def test_a_clear_winner_is_significant_with_scipys_p_values():
    random = curves_with(0.0, seed=1)
    curves = {"random": random, "tpe": random - 5.0, "gp": curves_with(0.0, seed=2)}
    table = verdict_table(curves).set_index("strategy")
    assert list(table.index) == ["tpe", "gp"] and set(table["reference"]) == {"random"}
    final = {s: curves[s][:, -1] - random[:, -1] for s in ("tpe", "gp")}
    p_values = [wilcoxon(final[s]).pvalue for s in ("tpe", "gp")]
    assert table["wilcoxon_p"].tolist() == pytest.approx(p_values)
    assert table["p_corrected"].tolist() == pytest.approx(
        false_discovery_control(p_values, method="bh").tolist())
    tpe = table.loc["tpe"]
    assert tpe["significant"] and tpe["wins"] == 7 and tpe["losses"] == 0
    assert tpe["median_difference"] == pytest.approx(-5.0)
    assert tpe["win_share"] == 1.0 and 0.5 < tpe["win_share_low"] < 1.0
    assert tpe["holds_from_budget"] == 1  # better from its first trial on
    assert tpe["sentence"].startswith("tpe beat random on 7 of 7 seeds")
    assert not table.loc["gp", "significant"]
    assert table.loc["gp", "sentence"].startswith("No detectable difference between gp and")


def test_the_budget_from_which_the_difference_holds():
    random = curves_with(0.0, seed=3)
    late = np.minimum.accumulate(np.where(np.arange(BUDGET) >= 5, random - 9.0, random), axis=1)
    row = verdict_table({"random": random, "tpe": late}).iloc[0]
    assert row["significant"] and row["holds_from_budget"] == 6  # trials 6..8 are better


def test_the_reference_can_win_and_the_sentence_says_so():
    random = curves_with(0.0, seed=4)
    row = verdict_table({"random": random, "gp": random + 3.0}).iloc[0]
    assert row["significant"] and row["losses"] == 7
    assert row["sentence"].startswith("random beat gp on 7 of 7 seeds")


def test_a_strategy_compared_by_cost_says_its_budget_is_cost():
    """A multi-fidelity strategy's curve is by resource spent (stats.cost_curve): its
    budget reads as that many full evaluations' cost, the others' as trials."""
    random = curves_with(0.0, seed=4)
    table = verdict_table({"random": random, "hyperband": random[:, :5] - 3.0,
                           "tpe": random + 0.0}, by_cost=["hyperband"]).set_index("strategy")
    assert table.loc["hyperband", "budget"] == 5
    assert table.loc["hyperband", "sentence"].startswith(
        "hyperband beat random on 7 of 7 seeds (100 %, 95 % CI")
    assert "at 5 full evaluations' worth of resource (" in table.loc["hyperband", "sentence"]
    assert f"at {BUDGET} trials:" in table.loc["tpe", "sentence"]


def test_too_few_seeds_cannot_conclude_and_say_how_many_are_needed():
    random = curves_with(0.0, seeds=MIN_SEEDS - 1, seed=5)
    row = verdict_table({"random": random, "tpe": random - 5.0}).iloc[0]
    assert not row["significant"] and row["seeds"] == MIN_SEEDS - 1
    assert row["sentence"].startswith("Cannot conclude on tpe against random: 4 paired seed")
    assert f"set repeats: {seeds_needed(1)}" in row["sentence"]


def test_the_references_are_the_strategies_that_say_they_are_baselines():
    from hpstudy.strategies import registry

    baselines = [name for name, cls in registry().items() if cls.baseline]
    assert baselines == ["random", "sobol"]  # the registry's order, by name
    curves = {name: curves_with(0.0, seed=20 + index)
              for index, name in enumerate(["tpe", *baselines])}
    assert list(verdict_table(curves)["reference"]) == ["random", "random", "sobol"]


def test_grid_is_one_result_against_every_seed_and_sobol_is_a_second_reference():
    random, sobol = curves_with(0.0, seed=6), curves_with(0.0, seed=7)
    grid = np.full((1, BUDGET), -10.0)  # better than every seed of both references
    table = verdict_table({"grid": grid, "random": random, "sobol": sobol})
    pairs = list(zip(table["strategy"], table["reference"], strict=True))
    assert pairs == [("grid", "random"), ("sobol", "random"), ("grid", "sobol")]
    grid_rows = table[table["strategy"] == "grid"]
    assert (grid_rows["seeds"] == 7).all() and (grid_rows["wins"] == 7).all()
    assert all("grid is deterministic" in s for s in grid_rows["sentence"])


def test_implementations_of_one_method_are_compared_with_each_other():
    """"Which implementation?": Optuna's TPE against hyperopt's, bayesian-optimization's GP
    against scikit-optimize's, in the same family of corrected p-values as against random."""
    from hpstudy.strategies import registry

    methods = {name: cls.method for name, cls in registry().items()}
    assert methods["tpe"] == methods["optuna_tpe"] == "TPE"
    assert methods["gp"] == methods["gp_bayesopt"] == "GP"
    assert methods["random"] is None and methods["optuna_cmaes"] is None
    random = curves_with(0.0, seed=11)
    curves = {"random": random, "tpe": curves_with(0.0, seed=12), "gp": random - 5.0,
              "optuna_tpe": curves_with(0.0, seed=13), "gp_bayesopt": random - 5.0 + 0.5}
    table = verdict_table(curves, methods=methods)
    pairs = list(zip(table["strategy"], table["reference"], strict=True))
    assert pairs == [("tpe", "random"), ("gp", "random"), ("optuna_tpe", "random"),
                     ("gp_bayesopt", "random"), ("optuna_tpe", "tpe"), ("gp_bayesopt", "gp")]
    assert table["seeds_needed"].iloc[0] == seeds_needed(6)
    gp_pair = table.iloc[-1]
    assert gp_pair["wins"] == 0 and gp_pair["median_difference"] == pytest.approx(0.5)
    assert gp_pair["sentence"].startswith("gp beat gp_bayesopt on 7 of 7 seeds")
    assert list(verdict_table(curves)["reference"]) == ["random"] * 4  # without methods


def test_a_study_without_a_reference_has_no_verdict_rows():
    table = verdict_table({"tpe": curves_with(0.0), "gp": curves_with(1.0)})
    assert table.empty and "sentence" in table.columns


def test_setup_states_data_folds_budget_seeds_versions_and_compute():
    config = {
        "experiment": "e", "seed": 3, "repeats": 7,
        "dataset": {"name": "digits", "split_seed": 0},
        "cv": {"folds": 2, "test_fraction": 0.2},
        "objective": {"name": "cnn", "cnn": {"epochs": 6, "optimizer": "sgd",
                                             "learning_rate": 0.01}},
        "space": {"learning_rate": {"type": "loguniform", "low": 1e-3, "high": 0.1}},
        "strategies": {"random": {"budget": 9}, "tpe": {"budget": 9, "batch_size": 2}}}
    data = {"name": "digits", "source": "sklearn:digits", "examples": 1797,
            "image_shape": [8, 8], "classes": list(range(10)), "test_examples": 360,
            "sha256": {"x": "9f578524b6cec1fc800cc52dfc87ebe5"}}
    table = setup_table(config, config_hash="abc123", budgets={"random": 9, "tpe": 9},
                        data=data, trials=126, fit_cpu_seconds=7200.0, commit="c0ffee",
                        versions={"numpy": "2.0"})
    rows = dict(zip(table["item"], table["value"], strict=True))
    assert rows["data"].startswith("digits (sklearn:digits): 1797 examples of 8x8, 10 classes")
    assert "9f578524b6cec1fc" in rows["data"]
    assert rows["folds"].startswith("2-fold cross-validation; 360 examples (0.2) held out")
    assert rows["objective"] == "cnn: epochs=6, optimizer=sgd"
    assert rows["seeds"].startswith("7 per stochastic strategy")
    assert rows["strategy tpe"] == "9 trials per seed; budget=9, batch_size=2"
    assert rows["compute"] == "126 trials, 2 CPU hours of fits"
    assert (rows["config hash"], rows["git commit"], rows["packages"]) == (
        "abc123 (all but execution and tracking)", "c0ffee", "numpy 2.0")
    assert isinstance(table, pd.DataFrame) and list(table.columns) == ["item", "value"]


def test_the_signed_rank_null_distribution_is_scipys_exact_one():
    from scipy.stats import wilcoxon as scipy_wilcoxon

    from hpstudy.report.stats import signed_rank_null_cdf

    for n in (1, 5, 7, 12):
        cdf = signed_rank_null_cdf(n)
        assert len(cdf) == n * (n + 1) // 2 + 1 and cdf[-1] == pytest.approx(1.0)
        # scipy's exact one-sided p for T+ = t is P(T+ <= t): the same numbers.
        ranks = np.arange(1.0, n + 1)
        for t in range(0, len(cdf), max(1, len(cdf) // 7)):
            # Differences whose positive ranks sum to t (greedy from the top), the rest < 0.
            signs, left = -np.ones(n), t
            for rank in range(n, 0, -1):
                if rank <= left:
                    signs[rank - 1], left = 1.0, left - rank
            p = scipy_wilcoxon(signs * ranks, alternative="less", method="exact").pvalue
            assert cdf[t] == pytest.approx(p), (n, t)


@pytest.mark.parametrize("seeds", [6, 7, 10, 20])
def test_the_hodges_lehmann_interval_is_the_signed_rank_test_inverted(seeds):
    """Independent answers: the estimate is the median of every Walsh average, written out;
    the interval's ends are where scipy's exact two-sided signed-rank test of the shifted
    differences starts to reject at 5 % (just inside: it does not; just outside: it does)."""
    from scipy.stats import wilcoxon as scipy_wilcoxon

    from hpstudy.report.stats import hodges_lehmann

    differences = np.random.default_rng(seeds).normal(0.3, 1.0, seeds)
    estimate, low, high = hodges_lehmann(differences)
    walsh = [(a + b) / 2 for i, a in enumerate(differences) for b in differences[i:]]
    assert estimate == pytest.approx(np.median(walsh))
    assert low < estimate < high

    def p(shift):
        return scipy_wilcoxon(differences - shift, method="exact").pvalue

    gap = 1e-9
    assert p(low + gap) > ALPHA and p(high - gap) > ALPHA
    assert p(low - gap) <= ALPHA and p(high + gap) <= ALPHA


def test_five_seeds_are_too_few_for_a_95_percent_interval():
    from hpstudy.report.stats import hodges_lehmann

    estimate, low, high = hodges_lehmann([0.1, -0.2, 0.4, 0.3, 0.25])
    assert estimate == pytest.approx(0.2)  # the 8th of the 15 Walsh averages, sorted
    assert np.isnan(low) and np.isnan(high)
    assert all(np.isnan(hodges_lehmann([np.nan, np.inf])))


def test_each_verdict_says_how_large_the_paired_difference_is():
    from hpstudy.report.stats import hodges_lehmann

    random = curves_with(0.0, seed=1)
    curves = {"random": random, "tpe": random - 5.0, "gp": curves_with(0.0, seed=2)}
    table = verdict_table(curves).set_index("strategy")
    gp = table.loc["gp"]
    expected = hodges_lehmann(curves["gp"][:, -1] - random[:, -1])
    assert (gp["difference_estimate"], gp["difference_low"], gp["difference_high"]) == \
        pytest.approx(expected)
    assert gp["difference_low"] < 0 < gp["difference_high"]  # no difference detected
    assert (f"gp minus random, paired by seed: {gp['difference_estimate']:.3g} (Hodges-Lehmann),"
            f" 95 % CI {gp['difference_low']:.3g} to {gp['difference_high']:.3g}.") in \
        gp["sentence"]
    assert table.loc["tpe", "difference_estimate"] == pytest.approx(-5.0)
    assert "tpe minus random, paired by seed: -5 (Hodges-Lehmann), 95 % CI -5 to -5." in \
        table.loc["tpe", "sentence"]

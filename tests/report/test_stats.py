"""The report's repeated studies (hpstudy.report.stats): the repeats table and figure checked
against scipy on the seeds' trials.csv."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from matplotlib.collections import PolyCollection

from hpstudy import report
from hpstudy.space import SearchSpace
from tests.helpers.figures import main_axis
from tests.helpers.synthetic_trials import BRANIN_SPACE, BUDGET, final_bests, running_best

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # skopt: repeated points


def test_repeats_table_and_figure_equal_scipy(branin_tables, tmp_path):
    repeats = dict(branin_tables["repeats"])
    repeats["single"] = repeats["tpe"][:1]
    repeats["same_as_random"] = list(repeats["random"])
    written = report.build_report(experiment="r", trials_paths=branin_tables["paths"],
                                  space=SearchSpace.from_config(BRANIN_SPACE),
                                  out_dir=str(tmp_path), repeats=repeats)
    table = pd.read_csv(written["tables"]["repeats"], keep_default_na=False,
                        na_values=[""]).set_index("strategy")
    assert list(table.index) == list(repeats)
    base_final, base_half = (final_bests(repeats["random"], BUDGET),
                             final_bests(repeats["random"], BUDGET // 2))
    for name, paths in repeats.items():
        row = table.loc[name]
        finals = final_bests(paths, BUDGET)
        assert row["seeds"] == len(paths) and row["budget"] == BUDGET
        assert row["median_final_best"] == pytest.approx(np.median(finals), rel=1e-12)
        assert row["q25_final_best"] == pytest.approx(np.percentile(finals, 25), rel=1e-12)
        assert row["q75_final_best"] == pytest.approx(np.percentile(finals, 75), rel=1e-12)
        assert row["median_half_best"] == pytest.approx(
            np.median(final_bests(paths, BUDGET // 2)), rel=1e-12)
        if name in ("tpe", "gp"):
            pairs = min(len(paths), len(repeats["random"]))
            for label, at, base in (("final", BUDGET, base_final),
                                    ("half", BUDGET // 2, base_half)):
                expected = scipy.stats.wilcoxon(final_bests(paths, at)[:pairs], base[:pairs])
                assert row[f"wilcoxon_{label}_statistic"] == expected.statistic
                assert row[f"wilcoxon_{label}_p"] == pytest.approx(expected.pvalue, rel=1e-12)
            assert row["paired_seeds"] == pairs
            assert row["median_diff_final"] == pytest.approx(
                np.median(finals[:pairs] - base_final[:pairs]), rel=1e-12)
            assert pd.isna(row["note"])
        else:
            assert math.isnan(row["wilcoxon_final_p"]) and math.isnan(row["wilcoxon_half_p"])
    assert table.loc["random", "note"] == "reference"
    assert "at least 2 needed" in table.loc["single", "note"]
    assert "all paired differences are zero" in table.loc["same_as_random", "note"]

    curves = report.repeat_curves(repeats)
    axis = main_axis(report.repeats_figure(curves))
    lines = axis.get_lines()
    assert len(lines) == len(repeats)
    assert len([c for c in axis.collections if isinstance(c, PolyCollection)]) == len(repeats)
    gp_curves = np.array([running_best(pd.read_csv(path)) for path in repeats["gp"]])
    np.testing.assert_allclose(lines[list(repeats).index("gp")].get_ydata(),
                               np.median(gp_curves, axis=0))
    assert axis.get_xlabel() == "trial number"


def test_the_signed_rank_test_is_scipys_wilcoxon_with_ties_zeros_and_without():
    """stats.signed_rank_test (every sign pattern's rank sum at once) against
    scipy.stats.wilcoxon itself, on paired samples like the report's: best-so-far values of
    10 seeds, often tied or equal at a budget (scipy: a permutation test), distinct ones
    (scipy: its exact distribution), and from 2 to 13 nonzero pairs."""
    from hpstudy.report.stats import EXACT_PAIRS, paired_wilcoxon, signed_rank_test

    rng = np.random.default_rng(29)
    cases = 0
    for pairs in range(2, EXACT_PAIRS + 1):
        for kind in ("distinct", "ties", "zeros", "shifted"):
            x = rng.normal(size=pairs)
            y = rng.normal(size=pairs) + (0.8 if kind == "shifted" else 0.0)
            if kind == "ties":
                x, y = np.round(x, 0), np.round(y, 0) + 0.5  # few distinct |differences|
            if kind == "zeros":
                y[: pairs // 3] = x[: pairs // 3]
            if np.all(x == y):
                continue
            expected = scipy.stats.wilcoxon(x, y)
            statistic, p_value = signed_rank_test(x - y)
            assert statistic == pytest.approx(expected.statistic, abs=1e-12), (pairs, kind)
            assert p_value == pytest.approx(expected.pvalue, rel=1e-12), (pairs, kind)
            assert paired_wilcoxon(x, y)[:2] == (statistic, p_value)
            cases += 1
    assert cases >= 45
    # More nonzero pairs than an exhaustive enumeration allows: scipy's own method.
    x, y = rng.normal(size=20), rng.normal(size=20)
    assert paired_wilcoxon(x, y)[1] == pytest.approx(scipy.stats.wilcoxon(x, y).pvalue)


# --- multi-fidelity strategies by cost ----------------------------------------------------

def _halving_table(objectives, fidelities, resources) -> pd.DataFrame:
    return pd.DataFrame({"trial": range(len(objectives)), "objective": objectives,
                         "status": "ok", "fidelity": fidelities, "resource": resources})


def test_a_multi_fidelity_curve_is_by_cost_and_random_sets_the_unit():
    from hpstudy.report.stats import cost_curve, full_evaluation_cost, stacked_curves

    random = pd.DataFrame({"trial": range(4), "objective": [5.0, 3.0, 4.0, 2.0],
                           "status": "ok", "resource": [10.0] * 4})
    assert full_evaluation_cost({"random": [random, random]}) == 10.0
    assert full_evaluation_cost({"tpe": [random]}) is None  # no reference: no unit
    # Four cheap looks (2 each), two at 5, one full (10): spent 8, 18, 28 after trials 3, 5, 6.
    halving = _halving_table([9, 8, 7, 6, 4.0, 3.5, 1.0], [1, 1, 1, 1, 5, 5, 10],
                             [2, 2, 2, 2, 5, 5, 10])
    # By hand: units end at 10, 20, 30 (the last a part unit: 28); the one full-fidelity
    # result (1.0, trial 6) comes in the third.
    assert np.array_equal(cost_curve(halving, 10.0), [np.nan, np.nan, 1.0], equal_nan=True)
    curves = stacked_curves({"random": [random], "sha": [halving]}, cost_unit=10.0)
    assert curves["random"].tolist() == [[5.0, 3.0, 3.0, 2.0]]  # random stays by trials
    assert curves["sha"].shape == (1, 3)


def test_the_resource_to_reach_randoms_best_by_hand():
    from hpstudy.report.stats import resource_to_reference

    random = pd.DataFrame({"trial": range(4), "objective": [5.0, 3.0, 4.0, 2.0],
                           "status": "ok", "resource": [10.0] * 4})  # final best 2, spent 40
    reaches = _halving_table([9, 8, 1.5, 0.5], [1, 1, 10, 10], [2, 2, 10, 10])  # at 14
    never = _halving_table([9, 8, 2.5], [1, 1, 10], [2, 2, 10])
    table = resource_to_reference({"random": [random] * 3,
                                   "hyperband": [reaches, never, reaches],
                                   "bohb": [never, reaches, never]}).set_index("strategy")
    # Fractions 14/40, inf, 14/40: the lower quartiles are values of seeds (sorted 0.35,
    # 0.35, inf: positions 0, 1, 1).
    row = table.loc["hyperband"]
    assert (row["seeds"], row["reached"]) == (3, 2)
    assert row["q25_fraction"] == row["median_fraction"] == row["q75_fraction"] == 0.35
    # inf, 14/40, inf: most seeds never got there, and the median says so.
    row = table.loc["bohb"]
    assert (row["reached"], row["q25_fraction"]) == (1, 0.35)
    assert row["median_fraction"] == row["q75_fraction"] == math.inf
    assert resource_to_reference({"random": [random], "tpe": [random]}).empty

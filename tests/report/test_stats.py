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

"""What mattered: parameter importance, slices and the objectives' EDF, checked on trials.csv
tables whose objective depends on the learning rate alone.

The parameters are real proposals (random and Sobol strategies on the CNN's learning rate x
momentum space plus a number of units); the objective is made up, a valley in log10(learning
rate) and nothing else, so the right answer is known.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgb

from hpstudy import report
from hpstudy.config import strategy_defaults
from hpstudy.report import captions
from hpstudy.report.exploration_figures import (
    importance_figure,
    objective_edf,
    objective_edf_figure,
    slices_figure,
)
from hpstudy.report.importance import (
    IMPORTANCE_COLUMNS,
    MIN_TRIALS,
    axis_values,
    parameter_importance,
)
from hpstudy.space import SearchSpace
from hpstudy.strategies import make_strategy

SPACE = {
    "learning_rate": {"type": "loguniform", "low": 1e-4, "high": 0.1},
    "momentum": {"type": "loguniform", "low": 1e-3, "high": 0.3, "transform": "complement"},
    "units": {"type": "int", "low": 8, "high": 64},
}
BUDGET = 24
PENALTY = 50.0  # a diverged trial's objective: far above every result, so it would show
FAST = {"n_trees": 30}  # a small forest keeps the tests quick; the ranking is as clear


def objective(params: dict) -> float:
    """A valley at learning rate 10^-2.5; momentum and units do nothing."""
    return (math.log10(params["learning_rate"]) + 2.5) ** 2 + 0.1


def propose(name: str, seed: int) -> list[dict]:
    space = SearchSpace.from_config(SPACE)
    strategy = make_strategy(name, space, {**strategy_defaults(name), "budget": BUDGET}, seed)
    return strategy.propose(list(range(BUDGET)), [])


def trials_csv(path: Path, rows: list[dict]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False, lineterminator="\n")
    return str(path)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """random and sobol: one failed and one diverged trial each; sha: a multi-fidelity table
    whose 1-epoch looks (objective 0, better than any result) must not count."""
    root = tmp_path_factory.mktemp("exploration")
    paths = {}
    for name, seed in (("random", 1), ("sobol", 2)):
        rows = []
        for trial, params in enumerate(propose(name, seed)):
            row = {"trial": trial, "round": 0, **params, "objective": objective(params),
                   "status": "ok"}
            if trial == 3:
                row.update(objective=math.nan, status="failed")
            if trial == 7:
                row.update(objective=PENALTY, status="diverged")
            rows.append(row)
        paths[name] = trials_csv(root / name / "trials.csv", rows)
    rows = [{"trial": trial, "round": 0 if trial < 8 else 1, **params, "fidelity": 1,
             "objective": 0.0, "status": "ok"}
            for trial, params in enumerate(propose("sobol", 3)[:12])]
    for row in rows[8:]:
        row.update(fidelity=9, objective=objective(row))
    paths["sha"] = trials_csv(root / "sha" / "trials.csv", rows)
    trials = report.load_trials(paths)
    return {"trials": trials, "axes": report.parameter_axes(SearchSpace.from_config(SPACE)),
            "results": {"random": 22, "sobol": 22, "sha": 4}}


@pytest.fixture(scope="module")
def importance(study):
    return parameter_importance(study["trials"], study["axes"], seed=0, **FAST)


# --- importance -------------------------------------------------------------------------

def test_importance_ranks_the_only_parameter_that_matters(study, importance):
    table, reason = importance
    assert reason is None
    assert list(table.columns) == IMPORTANCE_COLUMNS
    assert table["parameter"].tolist()[0] == "learning_rate"
    assert sorted(table["parameter"]) == sorted(SPACE)
    assert table["share"].iloc[0] > 0.8
    assert (table["share"] >= 0).all() and table["share"].sum() == pytest.approx(1, abs=1e-5)
    assert table["importance_mean"].is_monotonic_decreasing
    # Results only: no failed, diverged or 1-epoch trial.
    assert (table["n_trials"] == sum(study["results"].values())).all()
    # The forest does explain an objective that is a smooth function of one parameter.
    assert (table["surrogate_r2"] > 0.7).all()


def test_importance_is_deterministic_and_seeded(study):
    csv = [parameter_importance(study["trials"], study["axes"], seed=seed, n_trees=10)
           .table.to_csv(index=False) for seed in (0, 0, 1)]
    assert csv[0] == csv[1]
    assert csv[0] != csv[2]


def test_importance_of_more_results_than_it_fits_is_a_seeded_sample_of_them(study):
    """Beyond max_trials results (1,000 by default: a benchmark of the suite pools 3,500)
    the forest fits a seeded sample: n_trials says how many, the same seed the same table,
    and the parameter that matters still comes first."""
    tables = [parameter_importance(study["trials"], study["axes"], seed=seed, n_trees=20,
                                   max_trials=20).table for seed in (0, 0, 1)]
    assert (tables[0]["n_trials"] == 20).all()
    assert tables[0].equals(tables[1]) and not tables[0].equals(tables[2])
    assert tables[0]["parameter"].iloc[0] == "learning_rate"
    every = parameter_importance(study["trials"], study["axes"], seed=0, n_trees=20)
    assert (every.table["n_trials"] == sum(study["results"].values())).all()


def test_importance_is_none_with_a_reason_when_it_would_mean_nothing(study):
    trials, axes = study["trials"], study["axes"]
    few = {"random": trials["random"].head(MIN_TRIALS)}  # one of them failed, one diverged
    table, reason = parameter_importance(few, axes)
    assert table is None and f"at least {MIN_TRIALS}" in reason and reason.startswith("6 ")
    table, reason = parameter_importance(trials, axes[:1])
    assert table is None and "nothing to rank" in reason
    flat = {"random": trials["random"].assign(objective=1.0)}
    table, reason = parameter_importance(flat, axes)
    assert table is None and "same in every trial" in reason
    assert importance_figure(None) is None


def test_axis_values_are_the_sampler_scale(study):
    by_name = {axis.name: axis for axis in study["axes"]}
    np.testing.assert_allclose(axis_values(by_name["learning_rate"], [1e-3, 0.1]), [-3, -1])
    np.testing.assert_allclose(axis_values(by_name["momentum"], [0.99, 0.9]), [-2, -1])
    np.testing.assert_allclose(axis_values(by_name["units"], [8, 64]), [8, 64])
    assert np.isnan(axis_values(by_name["learning_rate"], [0.0])).all()


def test_importance_figure_has_one_bar_per_parameter_largest_on_top(importance):
    table = importance.table
    figure = importance_figure(table)
    axis = figure.axes[0]
    bars = axis.patches
    assert len(bars) == len(SPACE)
    top = max(bars, key=lambda bar: bar.get_y())
    assert top.get_width() == pytest.approx(table["importance_mean"].iloc[0])
    ticks = dict(zip(axis.get_yticks(), [t.get_text() for t in axis.get_yticklabels()],
                     strict=True))
    assert ticks[max(ticks)] == "learning_rate"
    assert f"R² {table['surrogate_r2'].iloc[0]:.2f}" in axis.get_title()


# --- slices -------------------------------------------------------------------------------

def test_slices_one_panel_per_parameter_one_scatter_per_strategy(study):
    trials, axes = study["trials"], study["axes"]
    figure = slices_figure(trials, axes)
    assert len(figure.axes) == len(SPACE)
    scales = {axis.get_xlabel(): axis.get_xscale() for axis in figure.axes}
    assert scales == {"learning_rate": "log", "1 - momentum": "log", "units": "linear"}
    order = list(trials)
    for panel in figure.axes:
        scatters = [c for c in panel.collections if isinstance(c, PathCollection)]
        assert len(scatters) == len(order)
        for scatter, strategy in zip(scatters, order, strict=True):
            assert scatter.get_label() == strategy
            assert len(scatter.get_offsets()) == study["results"][strategy]
            colour = report.strategy_colour(strategy, order)
            np.testing.assert_allclose(scatter.get_facecolor()[0][:3],
                                       to_rgb(colour))
            # Results only: neither the penalty nor a 1-epoch look is drawn.
            assert 0.0 < scatter.get_offsets()[:, 1].min() and \
                scatter.get_offsets()[:, 1].max() < PENALTY
    momentum = next(a for a in figure.axes if a.get_xlabel() == "1 - momentum")
    random = trials["random"]
    ok = random.loc[report.result_mask(random), "momentum"].to_numpy()
    np.testing.assert_allclose(momentum.collections[0].get_offsets()[:, 0], 1 - ok)
    assert "failed and diverged left out" in figure.texts[0].get_text()
    assert slices_figure(trials, []) is None


# --- EDF ----------------------------------------------------------------------------------

def test_edf_steps_up_to_one_over_the_results(study):
    trials = study["trials"]
    figure = objective_edf_figure(trials)
    lines = {line.get_label().split(" ")[0]: line for line in figure.axes[0].get_lines()}
    assert list(lines) == list(trials)
    right = max(trials[s].loc[report.result_mask(trials[s]), "objective"].max() for s in trials)
    for strategy, line in lines.items():
        x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
        assert line.get_drawstyle() == "steps-post"
        assert y[0] == 0.0 and y[-1] == 1.0 and x[-1] == right
        assert (np.diff(x) >= 0).all() and (np.diff(y) >= 0).all()
        assert len(np.unique(y)) == study["results"][strategy] + 1
    # y is the fraction of results <= x, checked against the table directly.
    x, y = objective_edf(trials["random"])
    results = trials["random"].loc[report.result_mask(trials["random"]), "objective"]
    for value, fraction in zip(x[1:], y[1:], strict=True):
        assert fraction >= (results < value).mean() and fraction <= (results <= value).mean()
    sha = objective_edf(trials["sha"])[0]
    assert len(sha) == 5 and sha.min() > 0  # the four 9-epoch results, not the 1-epoch ones
    empty = {"random": trials["random"].assign(status="failed")}
    assert objective_edf_figure(empty) is None


# --- captions -----------------------------------------------------------------------------

def test_captions_of_the_new_figures_and_table():
    import jinja2
    from docutils.core import publish_parts

    figures = captions.figure_captions()
    for stem in ("importance", "slices", "objective_edf"):
        assert captions.figure_kind(stem, ["random"]) == stem and figures[stem]
    text = captions.read_caption("importance")
    assert jinja2.Environment().from_string(text).render() == text.rstrip("\n")
    publish_parts(text, writer="html", settings_overrides={"halt_level": 2, "report_level": 2})
    paragraphs = captions.table_caption("importance")
    assert len(paragraphs) == 2
    for paragraph in paragraphs:
        assert not re.search(r"[`*|]", re.sub(r"``[^`]+``", "", paragraph)), paragraph
    for column in IMPORTANCE_COLUMNS[1:]:
        assert f"``{column}``" in text

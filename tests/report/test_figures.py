"""The report's figures (hpstudy.report.figures, comparison_figures, axes): what each drew
checked against trials.csv, on log and complement axes too."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection, QuadMesh

from hpstudy import report
from hpstudy.report.axes import ParamAxis
from hpstudy.space import Parameter, SearchSpace
from tests.helpers.figures import main_axis, scatter_points
from tests.helpers.synthetic_trials import (
    BRANIN_SPACE,
    BUDGET,
    CHANCE,
    CNN_SPACE,
    running_best,
    timings_of,
    timings_path,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # skopt: repeated points


def figures_for(study, space=BRANIN_SPACE, **kwargs):
    trials = report.load_trials(study["paths"], timings_of(study["paths"]))
    axes = report.parameter_axes(SearchSpace.from_config(space))
    return trials, report.make_figures(trials, axes, **kwargs)


def test_across_strategy_figures(branin_tables):
    trials, figures = figures_for(branin_tables, margin=0.05)
    for name, xlabel in (("best_so_far", "trial number"),
                         ("best_so_far_time", "cumulative training CPU seconds")):
        axis = main_axis(figures[name])
        assert axis.get_xlabel() == xlabel
        assert "best objective so far" in axis.get_ylabel()
        lines = axis.get_lines()
        assert [line.get_label() for line in lines] == list(trials)
        for line, table in zip(lines, trials.values(), strict=True):
            np.testing.assert_array_equal(line.get_ydata(), running_best(table))
            cpu = pd.read_csv(timings_path(branin_tables["paths"][line.get_label()]))
            expected_x = (np.cumsum(cpu["fit_cpu_seconds"]) if name == "best_so_far_time"
                          else np.arange(1, len(table) + 1))
            np.testing.assert_allclose(line.get_xdata(), expected_x)
    assert "cv_vs_test" not in figures and "repeats_best_so_far" not in figures


def test_per_strategy_figures(branin_tables):
    trials, figures = figures_for(branin_tables)
    grid = trials["grid"]
    for strategy, table in trials.items():
        finite = table["objective"].notna()
        ok = table[table["status"] == "ok"]

        axis = main_axis(figures[f"{strategy}_objective"])
        assert (axis.get_xlabel(), axis.get_ylabel()) == ("trial number",
                                                          "objective (lower is better)")
        assert scatter_points(axis) == finite.sum()
        trend = [line for line in axis.get_lines() if "least-squares" in line.get_label()]
        slope, intercept = np.polyfit(np.flatnonzero(table["status"] == "ok") + 1,
                                      ok["objective"], 1)
        np.testing.assert_allclose(trend[0].get_ydata(), intercept + slope * np.array(
            [1, len(table)]))
        failed_lines = [line for line in axis.get_lines() if line not in trend]
        assert len(failed_lines) == (~finite).sum()

        panels = figures[f"{strategy}_parameters"].axes
        assert [p.get_ylabel() for p in panels] == ["x", "y"]
        assert [p.get_yscale() for p in panels] == ["linear", "linear"]
        for panel, name in zip(panels, ("x", "y"), strict=True):
            points = [c for c in panel.collections if isinstance(c, PathCollection)][0]
            np.testing.assert_array_equal(points.get_offsets()[:, 1], table[name])
            assert len(points.get_offsets()) == len(table)
        boxes = [line for line in panels[0].get_lines() if line.get_color() == "black"]
        assert len(boxes) == math.ceil(len(table) / report.block_size(len(table)))  # medians

        axis = main_axis(figures[f"{strategy}_cv_folds"])
        best5 = ok.sort_values("objective").head(5)["trial"]
        assert [t.get_text() for t in axis.get_xticklabels()] == [f"trial {t}" for t in best5]
        assert axis.get_ylabel() == "objective value per fold"

        axis = main_axis(figures[f"{strategy}_space"])
        assert (axis.get_xlabel(), axis.get_ylabel()) == ("x", "y")
        assert scatter_points(axis) == len(table)
        meshes = [c for c in axis.collections if isinstance(c, QuadMesh)]
        assert len(meshes) == 1
        # The grid's 3 x 3 objectives, rows = y ascending, columns = x ascending.
        expected = grid.pivot(index="y", columns="x", values="objective").to_numpy()
        np.testing.assert_array_equal(meshes[0].get_array().reshape(3, 3), expected)
        assert axis.get_xlim() == (-5.0, 10.0) and axis.get_ylim() == (0.0, 15.0)


def test_no_heatmap_without_a_grid_study(branin_tables):
    study = {"paths": {k: v for k, v in branin_tables["paths"].items() if k != "grid"}}
    _, figures = figures_for(study)
    for strategy in ("random", "tpe", "gp"):
        axis = main_axis(figures[f"{strategy}_space"])
        assert not [c for c in axis.collections if isinstance(c, QuadMesh)]
        assert scatter_points(axis) == BUDGET


def test_cnn_log_axes_complement_and_test_results(cnn_tables, tmp_path):
    trials, figures = figures_for(cnn_tables, space=CNN_SPACE,
                                  test_results=cnn_tables["test_results"])
    grid, random = trials["grid"], trials["random"]
    assert (grid["status"] == "diverged").sum() == 1

    panels = figures["random_parameters"].axes
    assert [p.get_ylabel() for p in panels] == ["learning_rate", "1 - momentum"]
    assert [p.get_yscale() for p in panels] == ["log", "log"]
    points = [c for c in panels[1].collections if isinstance(c, PathCollection)][0]
    np.testing.assert_allclose(points.get_offsets()[:, 1], 1 - random["momentum"])

    axis = main_axis(figures["grid_space"])
    assert (axis.get_xscale(), axis.get_yscale()) == ("log", "log")
    assert (axis.get_xlabel(), axis.get_ylabel()) == ("learning_rate", "1 - momentum")
    mesh = [c for c in axis.collections if isinstance(c, QuadMesh)][0].get_array()
    assert mesh.shape == (3, 4) and mesh.mask.sum() == 1  # the diverged corner is blank
    assert scatter_points(main_axis(figures["random_space"])) == len(random)

    axis = main_axis(figures["grid_objective"])
    crosses = [c for c in axis.collections if c.get_label() == "diverged (penalty)"]
    assert len(crosses[0].get_offsets()) == 1 and crosses[0].get_offsets()[0, 1] == CHANCE
    assert main_axis(figures["grid_cv_folds"]).get_ylabel() == "validation accuracy per fold"

    axis = main_axis(figures["cv_vs_test"])
    dots = [c for c in axis.collections if isinstance(c, PathCollection)]
    assert [len(d.get_offsets()) for d in dots] == [2, 2]
    np.testing.assert_array_equal(
        dots[1].get_offsets()[:, 1],
        [cnn_tables["test_results"][s]["test_objective"] for s in ("grid", "random")])

    written = report.build_report(experiment="cnn", trials_paths=cnn_tables["paths"],
                                  space=SearchSpace.from_config(CNN_SPACE),
                                  out_dir=str(tmp_path),
                                  test_results=cnn_tables["test_results"])
    table = pd.read_csv(written["tables"]["comparison"]).set_index("strategy")
    assert list(table.columns[:6]) == ["trials", "ok", "failed_or_diverged", "best_objective",
                                       "test_objective", "test_accuracy"]
    assert table["failed_or_diverged"].tolist() == [1, 1]
    for name, result in cnn_tables["test_results"].items():
        assert table.loc[name, "best_objective"] == result["cv_objective"]
        assert table.loc[name, "test_objective"] == result["test_objective"]
        assert table.loc[name, "best_trial"] == result["trial"]
        assert table.loc[name, "momentum"] == result["params"]["momentum"]
    assert "cv_vs_test" in written["figures"]


def test_axes_are_built_from_the_space_parameters():
    space = SearchSpace.from_config({
        **CNN_SPACE,
        "units": {"type": "int", "low": 8, "high": 64, "grid": 2},
        "optimizer": {"type": "choice", "choices": ["sgd", "adam"]},
        "dropout": {"type": "uniform", "low": 0, "high": 0.5}})
    axes = report.parameter_axes(space)
    assert axes == [ParamAxis.from_parameter(p) for p in space]
    by_name = {axis.name: axis for axis in axes}
    assert [a.name for a in axes] == space.names
    lr, momentum = by_name["learning_rate"], by_name["momentum"]
    assert (lr.label, lr.scale, lr.complement, lr.bounds) == (
        "learning_rate", "log", False, (3.1623e-4, 0.1))
    assert (momentum.label, momentum.scale, momentum.complement) == ("1 - momentum", "log", True)
    assert momentum.bounds == (3.1623e-3, 0.31623)
    # A complement parameter is drawn at its raw value, what the sampler drew.
    values = [0.99, 0.9, 0.7]
    np.testing.assert_allclose(momentum.coords(values),
                               [space["momentum"].to_raw(v) for v in values])
    units = by_name["units"]
    assert (units.scale, units.bounds, units.choices) == ("linear", (8.0, 64.0), ())
    assert isinstance(units.bounds[0], float)
    optimizer = by_name["optimizer"]
    assert (optimizer.choices, optimizer.bounds) == (("sgd", "adam"), None)
    np.testing.assert_array_equal(optimizer.coords(["adam", "sgd", "rmsprop"]), [1, 0, np.nan])
    assert by_name["dropout"].bounds == (0.0, 0.5)
    assert ParamAxis.from_parameter(Parameter("p", "uniform")).bounds is None

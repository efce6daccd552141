"""The report's tables (hpstudy.report.tables): the comparison and training-time tables
checked against numbers computed directly from trials.csv, and a multi-fidelity study's cost
counted in epochs of full-fidelity results only."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from hpstudy import report
from hpstudy.space import SearchSpace
from tests.helpers.figures import main_axis
from tests.helpers.synthetic_trials import (
    BRANIN_SPACE,
    BUDGET,
    running_best,
    timings_of,
    timings_path,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # skopt: repeated points


def test_comparison_table_equals_numbers_from_trials_csv(branin_tables, tmp_path):
    margin = 0.5
    written = report.build_report(experiment="branin", trials_paths=branin_tables["paths"],
                                  timings_paths=timings_of(branin_tables["paths"]),
                                  space=SearchSpace.from_config(BRANIN_SPACE),
                                  out_dir=str(tmp_path), margin=margin)
    table = pd.read_csv(written["tables"]["comparison"]).set_index("strategy")
    raw = {name: pd.read_csv(path) for name, path in branin_tables["paths"].items()}
    overall = min(t.loc[t["status"] == "ok", "objective"].min() for t in raw.values())
    assert list(table.index) == ["grid", "random", "tpe", "gp"]
    assert list(table.columns) == ["trials", "ok", "failed_or_diverged", "best_objective", "x",
                                   "y", "best_trial", "trials_to_margin"]
    training_time = pd.read_csv(written["tables"]["training_time"]).set_index("strategy")
    assert list(training_time.columns) == ["trials", "training_seconds", "training_cpu_seconds"]
    for name, trials in raw.items():
        row = table.loc[name]
        ok = trials[trials["status"] == "ok"]
        best = ok.loc[ok["objective"].idxmin()]
        assert row["trials"] == len(trials) == (9 if name == "grid" else BUDGET)
        assert row["ok"] == len(ok)
        assert row["failed_or_diverged"] == (1 if name == "random" else 0)
        assert row["best_objective"] == best["objective"]
        assert row["best_trial"] == best["trial"]
        assert (row["x"], row["y"]) == (best["x"], best["y"])
        timings = pd.read_csv(timings_path(branin_tables["paths"][name]))
        assert training_time.loc[name, "trials"] == len(trials)
        assert training_time.loc[name, "training_seconds"] == pytest.approx(
            timings["fit_seconds"].sum(), abs=1e-3)
        assert training_time.loc[name, "training_cpu_seconds"] == pytest.approx(
            timings["fit_cpu_seconds"].sum(), abs=1e-3)
        within = [i + 1 for i, b in enumerate(running_best(trials)) if b <= overall + margin]
        if within:
            assert row["trials_to_margin"] == within[0]
        else:
            assert math.isnan(row["trials_to_margin"])
    winner = table["best_objective"].idxmin()
    assert table.loc[winner, "trials_to_margin"] <= table.loc[winner, "trials"]


def test_trials_to_margin_is_blank_when_never_reached(branin_tables, tmp_path):
    paths = {name: branin_tables["paths"][name] for name in ("grid", "tpe")}
    written = report.build_report(experiment="b", trials_paths=paths,
                                  space=SearchSpace.from_config(BRANIN_SPACE),
                                  out_dir=str(tmp_path), margin=0.0)
    csv = Path(written["tables"]["comparison"]).read_text(encoding="utf-8").splitlines()
    table = pd.read_csv(written["tables"]["comparison"]).set_index("strategy")
    loser = table["best_objective"].idxmax()
    assert math.isnan(table.loc[loser, "trials_to_margin"])  # an empty CSV cell
    assert not any("<NA>" in line or "nan" in line.lower() for line in csv)


def test_cost_axis_counts_epochs_and_only_full_fidelity_results():
    """Multi-fidelity trials: a rung's cheap look ranks configurations, it is no result; the
    comparison counts what each strategy trained (resource) and what it took to get within
    the margin of the best."""
    sha = pd.DataFrame({
        "trial": [0, 1, 2, 3], "round": [0, 0, 1, 2], "x": [1.0, 2.0, 1.0, 1.0],
        "fidelity": [1, 1, 3, 9], "objective": [-9.0, -0.5, -0.8, -1.0],
        "status": ["ok"] * 4, "resource": [2, 2, 4, 12]})
    random = pd.DataFrame({"trial": [0, 1], "round": [0, 0], "x": [3.0, 4.0],
                           "objective": [-0.7, -0.95], "status": ["ok", "ok"],
                           "resource": [18, 18]})
    trials = {"random": random, "sha": sha}
    for table in trials.values():
        table["duration_s"], table["cpu_seconds"] = 1.0, 1.0
    # The 1-epoch -9.0 is not sha's best: its only full-fidelity result, -1.0, is.
    assert report.best_so_far(sha).tolist()[-1] == -1.0
    assert math.isnan(report.best_so_far(sha).tolist()[0])
    table = report.comparison_table(trials, ["x"], margin=0.1)
    rows = table.set_index("strategy")
    assert rows.loc["sha", "best_objective"] == -1.0 and rows.loc["sha", "best_trial"] == 3
    assert rows.loc["sha", "resource"] == 20 and rows.loc["random", "resource"] == 36
    # The overall best is -1.0: random gets within 0.1 at its 2nd trial (36 epochs), sha at
    # its 4th (20).
    assert rows.loc["random", "resource_to_margin"] == 36
    assert rows.loc["sha", "resource_to_margin"] == 20
    figure = report.best_so_far_resource_figure(trials, -1.0, 0.1)
    lines = {line.get_label(): line for line in main_axis(figure).get_lines()}
    assert list(lines["sha"].get_xdata()) == [2, 4, 8, 20]
    assert report.best_so_far_resource_figure(
        {s: t.drop(columns="resource") for s, t in trials.items()}) is None


def test_a_regressions_held_out_rmse_and_fold_rmses_are_reported():
    """dataset.task regression: test.json holds test_rmse (not test_accuracy), trials.csv
    fold_<k>_rmse; the comparison table carries the held-out RMSE and the CV-folds figure
    names it."""
    trials = {"random": pd.DataFrame({
        "trial": [0, 1, 2], "round": [0, 0, 0], "x": [1.0, 2.0, 3.0],
        "objective": [60.0, 55.0, 58.0], "status": ["ok"] * 3,
        "fold_0_rmse": [61.0, 54.0, 57.0], "fold_1_rmse": [59.0, 56.0, 59.0]})}
    tests = {"random": {"test_objective": 57.5, "test_rmse": 57.5, "test_loss": 0.54}}
    rows = report.comparison_table(trials, ["x"], test_results=tests).set_index("strategy")
    assert rows.loc["random", "test_rmse"] == 57.5 and "test_accuracy" not in rows.columns
    assert rows.loc["random", "best_objective"] == 55.0
    figure = report.cv_folds_figure("random", trials["random"], fold_metric="rmse")
    axis = main_axis(figure)
    assert axis.get_ylabel() == "validation RMSE per fold"
    assert [label.get_text() for label in axis.get_xticklabels()] == \
        ["trial 1", "trial 2", "trial 0"]

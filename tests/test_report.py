"""The report: figures and tables checked against numbers computed directly from trials.csv.

The trials come from the real strategies proposing on Branin (and, for the CNN-like table, on
the classic learning-rate x momentum space with a made-up but smooth accuracy surface): the
report sees what a real study writes, without training anything.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from matplotlib.collections import PathCollection, PolyCollection, QuadMesh

from hpstudy import report
from hpstudy.config import strategy_defaults
from hpstudy.objectives.function import branin
from hpstudy.report import captions, page
from hpstudy.report.axes import ParamAxis
from hpstudy.space import Parameter, SearchSpace
from hpstudy.strategies import Observation, make_strategy

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # skopt: repeated points

BRANIN_SPACE = {
    "x": {"type": "uniform", "low": -5.0, "high": 10.0, "grid": 3},
    "y": {"type": "uniform", "low": 0.0, "high": 15.0, "grid": [0.0, 7.5, 15.0]},
}
CNN_SPACE = {
    "learning_rate": {"type": "loguniform", "low": 3.1623e-4, "high": 0.1, "grid": 4},
    "momentum": {"type": "loguniform", "low": 3.1623e-3, "high": 0.31623,
                 "transform": "complement", "grid": 3},
}
BUDGET = 12
# Budget 12 in batches; GP proposes from its model only in the last round (skopt's GP costs
# about a second per point), TPE from trial 4 on.
SETTINGS = {
    "grid": {},
    "random": {"budget": BUDGET},
    "tpe": {"budget": BUDGET, "batch_size": 2, "n_startup_jobs": 4},
    "gp": {"budget": BUDGET, "batch_size": 3, "n_initial_points": 9},
}
SEEDS = {"random": 4, "tpe": 4, "gp": 2}  # repeats; seed 0 is the main study
FOLDS = 2
CHANCE = math.log10(1 - 1 / 10)  # the CNN's penalty for a diverged trial (10 classes)


# --- synthetic studies from real proposals ----------------------------------------------

def run_study(name: str, space_config: dict, evaluate, seed: int) -> pd.DataFrame:
    """Drive a real strategy round by round; evaluate(trial, params) -> the row's results."""
    space = SearchSpace.from_config(space_config)
    settings = {**strategy_defaults(name), **SETTINGS[name]}
    strategy = make_strategy(name, space, settings, seed)
    budget = space.grid_size() if name == "grid" else settings["budget"]
    batch = settings.get("batch_size", budget)
    history, rows = [], []
    for round_, start in enumerate(range(0, budget, batch)):
        ids = list(range(start, min(start + batch, budget)))
        for trial, params in zip(ids, strategy.propose(ids, history), strict=True):
            result = evaluate(trial, params)
            history.append(Observation(trial, params, result["objective"], result["status"]))
            rows.append({"trial": trial, "round": round_, **params, **result})
    return pd.DataFrame(rows)


def branin_trial(trial: int, params: dict) -> dict:
    """Two noisy folds of Branin, like objectives.function with noise_std 0.5."""
    value = branin(params["x"], params["y"])
    noise = np.random.default_rng([trial, int(1e6 * (params["x"] + 5))]).normal(0, 0.5, FOLDS)
    folds = value + noise
    return {"objective": float(folds.mean()), "status": "ok",
            "duration_s": round(0.5 + 0.1 * (params["x"] + 5), 3),
            **{f"fold_{k}_value": float(v) for k, v in enumerate(folds)},
            "value_mean": float(folds.mean()), "value_std": float(folds.std())}


def cnn_trial(trial: int, params: dict) -> dict:
    """Three folds of a smooth accuracy surface (best near lr 1e-2, 1 - momentum 3e-2)."""
    lr, one_minus_m = params["learning_rate"], 1.0 - params["momentum"]
    if lr >= 0.09 and one_minus_m < 0.01:  # the classic corner where SGD blows up
        return {"objective": CHANCE, "status": "diverged", "duration_s": 4.2,
                **{f"fold_{k}_accuracy": 0.1 for k in range(3)}}
    base = 0.97 - 0.03 * (math.log10(lr) + 2) ** 2 - 0.02 * (math.log10(one_minus_m) + 1.5) ** 2
    accuracy = np.clip(base + np.array([-0.004, 0.001, 0.003]) * (1 + trial % 3), 0.1, 0.999)
    return {"objective": math.log10(1 - accuracy.mean()), "status": "ok",
            "duration_s": round(30 + 2.5 * trial, 3), "cv_accuracy_mean": accuracy.mean(),
            "cv_accuracy_std": accuracy.std(), "cv_loss_mean": float(1 - accuracy.mean()),
            **{f"fold_{k}_accuracy": float(a) for k, a in enumerate(accuracy)}}


def write_csv(table: pd.DataFrame, path: Path, parameters: list[str]) -> str:
    """trials.csv as summarize_study writes it (trial, round, params, objective, status, then
    the metrics), and timings.csv beside it: the trial's duration_s as its fit wall seconds,
    90 % of it as CPU seconds."""
    fixed = ["trial", "round", *parameters, "objective", "status"]
    trials = table[fixed + sorted(c for c in table.columns if c not in fixed + ["duration_s"])]
    path.parent.mkdir(parents=True, exist_ok=True)
    trials.to_csv(path, index=False, lineterminator="\n")
    timings = pd.DataFrame({"trial": table["trial"], "folds": FOLDS,
                            "fit_seconds": table["duration_s"],
                            "fit_cpu_seconds": (0.9 * table["duration_s"]).round(3)})
    timings.to_csv(timings_path(path), index=False, lineterminator="\n")
    return str(path)


def timings_path(trials_path) -> Path:
    return Path(trials_path).with_name("timings.csv")


def timings_of(paths: dict) -> dict:
    return {name: str(timings_path(path)) for name, path in paths.items()}


@pytest.fixture(scope="module")
def branin_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("branin")
    paths, repeats = {}, {}
    for name in ("grid", "random", "tpe", "gp"):
        for seed in range(SEEDS.get(name, 1)):
            table = run_study(name, BRANIN_SPACE, branin_trial, seed)
            if name == "random" and seed == 0:
                # A trial whose job crashed: no objective, no metrics.
                table.loc[5, ["objective", "fold_0_value", "fold_1_value", "value_mean",
                              "value_std"]] = np.nan
                table.loc[5, "status"] = "failed"
            path = write_csv(table, root / f"seed{seed}" / name / "trials.csv", ["x", "y"])
            if seed == 0:
                paths[name] = path
            if name in SEEDS:
                repeats.setdefault(name, []).append(path)
    return {"paths": paths, "repeats": repeats, "root": root}


@pytest.fixture(scope="module")
def cnn_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("cnn")
    paths = {}
    for name in ("grid", "random"):
        table = run_study(name, CNN_SPACE, cnn_trial, 3)
        if name == "random":
            table.loc[4, ["objective", "cv_accuracy_mean", "cv_accuracy_std", "cv_loss_mean",
                          "fold_0_accuracy", "fold_1_accuracy", "fold_2_accuracy"]] = np.nan
            table.loc[4, "status"] = "failed"
        paths[name] = write_csv(table, root / name / "trials.csv", list(CNN_SPACE))
    tables = {name: pd.read_csv(path) for name, path in paths.items()}
    test_results = {}
    for name, table in tables.items():
        best = table[table["status"] == "ok"].sort_values("objective").iloc[0]
        test_results[name] = {"strategy": name, "trial": int(best["trial"]),
                              "params": {p: float(best[p]) for p in CNN_SPACE},
                              "cv_objective": float(best["objective"]),
                              "test_objective": float(best["objective"]) + 0.05,
                              "test_accuracy": 1 - 10 ** (float(best["objective"]) + 0.05),
                              "status": "ok"}
    return {"paths": paths, "test_results": test_results, "root": root}


# --- helpers computing the expected numbers directly -------------------------------------

def running_best(table: pd.DataFrame) -> list[float]:
    best, out = math.inf, []
    for objective, status in zip(table["objective"], table["status"], strict=True):
        if status == "ok" and not math.isnan(objective):
            best = min(best, objective)
        out.append(best if best < math.inf else math.nan)
    return out


def final_bests(paths: list[str], at: int) -> np.ndarray:
    """Per seed, the best ok objective among its first `at` trials."""
    out = []
    for path in paths:
        table = pd.read_csv(path).sort_values("trial").head(at)
        out.append(table.loc[table["status"] == "ok", "objective"].min())
    return np.array(out)


def scatter_points(axis) -> int:
    return sum(len(c.get_offsets()) for c in axis.collections if isinstance(c, PathCollection))


def main_axis(figure):
    return figure.axes[0]  # the others are colour bars


def figures_for(study, space=BRANIN_SPACE, **kwargs):
    trials = report.load_trials(study["paths"], timings_of(study["paths"]))
    axes = report.parameter_axes(SearchSpace.from_config(space))
    return trials, report.make_figures(trials, axes, **kwargs)


# --- tables --------------------------------------------------------------------------------

def test_comparison_table_equals_numbers_from_trials_csv(branin_study, tmp_path):
    margin = 0.5
    written = report.build_report(experiment="branin", trials_paths=branin_study["paths"],
                                  timings_paths=timings_of(branin_study["paths"]),
                                  space=SearchSpace.from_config(BRANIN_SPACE),
                                  out_dir=str(tmp_path), margin=margin)
    table = pd.read_csv(written["tables"]["comparison"]).set_index("strategy")
    raw = {name: pd.read_csv(path) for name, path in branin_study["paths"].items()}
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
        timings = pd.read_csv(timings_path(branin_study["paths"][name]))
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


def test_trials_to_margin_is_blank_when_never_reached(branin_study, tmp_path):
    paths = {name: branin_study["paths"][name] for name in ("grid", "tpe")}
    written = report.build_report(experiment="b", trials_paths=paths,
                                  space=SearchSpace.from_config(BRANIN_SPACE),
                                  out_dir=str(tmp_path), margin=0.0)
    csv = Path(written["tables"]["comparison"]).read_text(encoding="utf-8").splitlines()
    table = pd.read_csv(written["tables"]["comparison"]).set_index("strategy")
    loser = table["best_objective"].idxmax()
    assert math.isnan(table.loc[loser, "trials_to_margin"])  # an empty CSV cell
    assert not any("<NA>" in line or "nan" in line.lower() for line in csv)


# --- figures -------------------------------------------------------------------------------

def test_across_strategy_figures(branin_study):
    trials, figures = figures_for(branin_study, margin=0.05)
    for name, xlabel in (("best_so_far", "trial number"),
                         ("best_so_far_time", "cumulative training CPU seconds")):
        axis = main_axis(figures[name])
        assert axis.get_xlabel() == xlabel
        assert "best objective so far" in axis.get_ylabel()
        lines = axis.get_lines()
        assert [line.get_label() for line in lines] == list(trials)
        for line, table in zip(lines, trials.values(), strict=True):
            np.testing.assert_array_equal(line.get_ydata(), running_best(table))
            cpu = pd.read_csv(timings_path(branin_study["paths"][line.get_label()]))
            expected_x = (np.cumsum(cpu["fit_cpu_seconds"]) if name == "best_so_far_time"
                          else np.arange(1, len(table) + 1))
            np.testing.assert_allclose(line.get_xdata(), expected_x)
    assert "cv_vs_test" not in figures and "repeats_best_so_far" not in figures


def test_per_strategy_figures(branin_study):
    trials, figures = figures_for(branin_study)
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


def test_no_heatmap_without_a_grid_study(branin_study):
    study = {"paths": {k: v for k, v in branin_study["paths"].items() if k != "grid"}}
    _, figures = figures_for(study)
    for strategy in ("random", "tpe", "gp"):
        axis = main_axis(figures[f"{strategy}_space"])
        assert not [c for c in axis.collections if isinstance(c, QuadMesh)]
        assert scatter_points(axis) == BUDGET


def test_cnn_log_axes_complement_and_test_results(cnn_study, tmp_path):
    trials, figures = figures_for(cnn_study, space=CNN_SPACE,
                                  test_results=cnn_study["test_results"])
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
        [cnn_study["test_results"][s]["test_objective"] for s in ("grid", "random")])

    written = report.build_report(experiment="cnn", trials_paths=cnn_study["paths"],
                                  space=SearchSpace.from_config(CNN_SPACE),
                                  out_dir=str(tmp_path),
                                  test_results=cnn_study["test_results"])
    table = pd.read_csv(written["tables"]["comparison"]).set_index("strategy")
    assert list(table.columns[:6]) == ["trials", "ok", "failed_or_diverged", "best_objective",
                                       "test_objective", "test_accuracy"]
    assert table["failed_or_diverged"].tolist() == [1, 1]
    for name, result in cnn_study["test_results"].items():
        assert table.loc[name, "best_objective"] == result["cv_objective"]
        assert table.loc[name, "test_objective"] == result["test_objective"]
        assert table.loc[name, "best_trial"] == result["trial"]
        assert table.loc[name, "momentum"] == result["params"]["momentum"]
    assert "cv_vs_test" in written["figures"]


# --- repeats -------------------------------------------------------------------------------

def test_repeats_table_and_figure_equal_scipy(branin_study, tmp_path):
    repeats = dict(branin_study["repeats"])
    repeats["single"] = repeats["tpe"][:1]
    repeats["same_as_random"] = list(repeats["random"])
    written = report.build_report(experiment="r", trials_paths=branin_study["paths"],
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


# --- the page ------------------------------------------------------------------------------

BUILD = """
import json, sys
from hpstudy.report import build_report
from hpstudy.space import SearchSpace
args = json.loads(sys.argv[1])
space = SearchSpace.from_config(args.pop("space"))
print(json.dumps(build_report(space=space, **args)))
"""


def test_index_html_is_self_contained_and_deterministic(branin_study, tmp_path):
    args = {"experiment": "branin <study>", "trials_paths": branin_study["paths"],
            "timings_paths": timings_of(branin_study["paths"]),
            "repeats": branin_study["repeats"],
            "test_results": {"gp": {"strategy": "gp", "trial": 3, "params": {},
                                    "cv_objective": 1.0, "test_objective": 1.2,
                                    "status": "ok"}}}
    first = report.build_report(out_dir=str(tmp_path / "one"),
                                space=SearchSpace.from_config(BRANIN_SPACE), **args)
    # Again in a fresh interpreter with another hash seed: same bytes.
    env = {**os.environ, "PYTHONHASHSEED": "123", "PYTHONPATH": str(REPO / "workflow")}
    run = subprocess.run([sys.executable, "-c", BUILD,
                          json.dumps({**args, "space": BRANIN_SPACE,
                                      "out_dir": str(tmp_path / "two")})],
                         capture_output=True, text=True, env=env, check=True)
    second = json.loads(run.stdout)

    names = ["best_so_far", "best_so_far_time", "cv_vs_test", "repeats_best_so_far",
             "importance", "slices", "objective_edf"] + [
        f"{s}_{kind}" for s in branin_study["paths"]
        for kind in ("objective", "best_so_far", "parameters", "cv_folds", "space")]
    assert list(first["figures"]) == names == list(second["figures"])
    assert sorted(p.name for p in (tmp_path / "one").glob("*.png")) == sorted(
        f"{n}.png" for n in names)
    page = Path(first["html"]).read_text(encoding="utf-8")
    assert Path(first["html"]).read_bytes() == Path(second["html"]).read_bytes()
    for name in names:
        png = Path(first["figures"][name]).read_bytes()
        assert png == Path(second["figures"][name]).read_bytes(), name
        assert png.startswith(b"\x89PNG")
        assert f'src="data:image/png;base64,{base64.b64encode(png).decode()}"' in page
        caption = captions.figure_caption(name, list(branin_study["paths"]))
        assert first["captions"][name] == captions.plain(caption)
        assert f"<figcaption>{captions.to_html(caption)}</figcaption>" in page
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page and "url(" not in page
    assert page.count("<img ") == len(names) and page.count('src="data:') == len(names)
    assert "branin &lt;study&gt;" in page
    for heading in ("Strategies compared", "Repeated studies", "Per strategy"):
        assert f"<h2>{heading}</h2>" in page
    # The verdict opens the page, then what mattered comes after the comparisons.
    order = ['<h2 id="verdict">', "<h2>Strategies compared</h2>", '<h2 id="importance">',
             "<h2>Per strategy</h2>"]
    assert [page.index(heading) for heading in order] == sorted(
        page.index(heading) for heading in order)
    # verdict, comparison, training time, repeats and importance, inline (no setup given)
    assert page.count("<table") == 5
    for table in captions.TABLES:  # the tables' captions of snakemake --report
        for paragraph in captions.table_caption(table):
            assert f"<p>{captions.to_html(paragraph)}</p>" in page
    assert set(first["tables"]) == {"comparison", "training_time", "repeats", "verdict",
                                    "importance"}
    for table in ("verdict", "importance"):
        assert Path(first["tables"][table]).read_bytes() == Path(
            second["tables"][table]).read_bytes()


def test_workflow_call_without_space_still_works(branin_study, tmp_path):
    """experiment, trials_paths and out_dir only: the parameters are read off trials.csv."""
    written = report.build_report(experiment="b", trials_paths=branin_study["paths"],
                                  out_dir=str(tmp_path))
    assert {"best_so_far", "grid_space"} <= set(written["figures"])
    assert (tmp_path / "comparison.csv").exists() and (tmp_path / "best_so_far.png").exists()
    # Without repeats, repeats.csv is still written (a declared output): only its header.
    assert (tmp_path / "repeats.csv").read_text().splitlines() == [",".join(
        report.REPEATS_COLUMNS)]
    table = pd.read_csv(tmp_path / "comparison.csv")
    assert {"x", "y"} <= set(table.columns)
    with pytest.raises(ValueError, match="margin"):
        report.build_report(experiment="b", trials_paths=branin_study["paths"],
                            out_dir=str(tmp_path), margin=-1.0)


# --- the pieces: template, captions, axes ----------------------------------------------------

def test_page_template_renders_escaped(tmp_path):
    """The page comes from the package's Jinja2 template, autoescaped: user text (experiment,
    strategy names) is escaped, tables and captions keep their own markup."""
    env = page.environment()
    assert env.autoescape is True
    assert (page.TEMPLATES / "index.html.j2").is_file()
    assert page.TEMPLATES.parent == Path(report.__file__).parent
    comparison = pd.DataFrame({"strategy": ["<b>x</b>"], "best_objective": [1 / 3],
                               "trials_to_margin": pd.array([None], dtype="Int64")})
    png = b"\x89PNG fake"
    text = page.render_html("exp <1> & 'two'", ["<b>x</b>"], {"<b>x</b>_objective": png},
                            {"<b>x</b>_objective": "see ``a<b``"}, comparison, 0.25)
    assert "<title>exp &lt;1&gt; &amp; &#39;two&#39;</title>" in text
    assert "<h1>Hyperparameter study: exp &lt;1&gt; &amp; &#39;two&#39;</h1>" in text
    assert "<h3>&lt;b&gt;x&lt;/b&gt;</h3>" in text and "<b>x</b>" not in text
    assert '<figure id="&lt;b&gt;x&lt;/b&gt;_objective">' in text
    assert f'src="data:image/png;base64,{base64.b64encode(png).decode()}"' in text
    assert "<figcaption>see <code>a&lt;b</code></figcaption>" in text
    assert "<td>0.333333</td>" in text and "<td></td>" in text  # html_table's cells
    assert "The margin of this study: 0.25." in text
    assert "<h2>Strategies compared</h2>" in text and "Repeated studies" not in text
    assert text.count("<table") == 1 and text.endswith("</body></html>\n")


def test_captions_are_the_snakemake_report_captions():
    """The page's captions are read from the .rst files that workflow/rules/report.smk names
    as captions, and those stay valid for snakemake --report (a Jinja2 template, then
    reStructuredText)."""
    import jinja2
    from docutils.core import publish_parts

    rules = (REPO / "workflow" / "rules" / "report.smk").read_text(encoding="utf-8")
    named = {Path(path).stem for path in re.findall(r'caption="\.\./report/(\w+\.rst)"', rules)}
    assert named == {*captions.TABLES, "figures", "index"}
    assert captions.CAPTION_DIR == REPO / "workflow" / "report"
    for name in named:
        text = captions.read_caption(name)
        assert jinja2.Environment().from_string(text).render() == text.rstrip("\n")
        publish_parts(text, writer="html",
                      settings_overrides={"halt_level": 2, "report_level": 2})
        for paragraph in captions.paragraphs(text):
            # Only ``literals`` for markup: the page renders no other reStructuredText.
            assert not re.search(r"[`*|]", re.sub(r"``[^`]+``", "", paragraph)), paragraph
    figures = captions.figure_captions()
    kinds = ("objective", "best_so_far", "parameters", "cv_folds", "space")
    assert list(figures) == ["best_so_far", "best_so_far_time", "best_so_far_resource",
                             "cv_vs_test",
                             "repeats_best_so_far", "importance", "slices", "objective_edf",
                             *(f"<strategy>_{kind}" for kind in kinds)]
    for key, caption in figures.items():
        assert f"``{key}``\n    {caption[:40]}" in captions.read_caption("figures")
    assert captions.figure_kind("gp_best_so_far", ["gp", "tpe"]) == "<strategy>_best_so_far"
    assert captions.figure_kind("tpe_x_space", ["tpe", "tpe_x"]) == "<strategy>_space"
    assert captions.figure_kind("best_so_far", ["best"]) == "best_so_far"
    with pytest.raises(KeyError):
        captions.figure_kind("gp_unknown", ["gp"])
    assert f"against {report.REFERENCE} search" in " ".join(captions.table_caption("repeats"))
    assert captions.plain("see ``x_y``") == "see x_y"


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

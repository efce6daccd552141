"""The benchmark suite's report (hpstudy.report.suite, suite_page): the regret definition
on hand-written trials.csv files, the statistics across benchmarks checked against scipy and
Demšar's (2006) table, and two real function benchmarks run by the real workflow, reported
on by the package and by the workflow's adapter script (the Hartmann-3 one also checked as a
study of its own: its values and held-out tests)."""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape
from scipy.stats import friedmanchisquare, rankdata, trim_mean

from hpstudy.config import resolve
from hpstudy.objectives.function import FUNCTIONS, MINIMA
from hpstudy.plan import Plan
from hpstudy.report.suite import (
    RANKED_BY,
    benchmarks_needed,
    best_possible_p,
    critical_difference,
    friedman_table,
    load_benchmark,
    nemenyi_q,
    quantiles,
    rank_table,
    regret_curves,
    regret_table,
    typed_params,
)
from hpstudy.report.suite_page import build_suite_report, suite_sentences
from hpstudy.space import SearchSpace
from hpstudy.suite import SUITE_REPORT
from tests.helpers.workdir import REPO, Workdir, load_config

BRANIN_SPACE = {"x": {"type": "uniform", "low": -5.0, "high": 10.0},
                "y": {"type": "uniform", "low": 0.0, "high": 15.0}}
PI = math.pi


def function_config(name: str, space: dict, strategies: dict | None = None,
                    repeats: int = 1) -> dict:
    config = load_config("branin")
    config.update(experiment=f"suite-{name}", seed=11, repeats=repeats, space=space,
                  strategies=strategies or {"random": {"budget": 6}, "sobol": {"budget": 6}})
    config["objective"]["function"] = {"name": name, "noise_std": 0.5}
    return config


def write_trials(path, rows: list[tuple], names=("x", "y")) -> str:
    """rows: (trial, *params, objective, status); written in the order given."""
    table = pd.DataFrame(rows, columns=["trial", *names, "objective", "status"])
    table.insert(1, "round", 0)
    table.to_csv(path, index=False)
    return str(path)


def branin(x, y) -> float:
    return FUNCTIONS["branin"](x, y)


# --- the regret definition ----------------------------------------------------------------

def test_the_incumbent_is_chosen_by_observed_objective_and_its_regret_is_noise_free(tmp_path):
    config = resolve(function_config("branin", BRANIN_SPACE))
    optimum = MINIMA["branin"][0]
    rows = [  # out of order on purpose: trial numbers follow trial ids
        (4, -PI, 12.275, 4.0, "ok"),       # ties trial 2's observed 4.0: the first stays
        (0, 0.0, 0.0, None, "failed"),     # before any ok trial: NaN
        (1, PI, 2.275, 5.0, "ok"),         # at a minimum, observed with bad noise
        (2, 0.0, 0.0, 4.0, "ok"),          # far from it (55.6), observed lucky: the incumbent
        (3, PI, 2.275, 1.0, "diverged"),   # a penalty, not a measurement
        (5, 9.42478, 2.475, 3.9, "ok"),    # the best observed again
    ]
    paths = {"random": write_trials(tmp_path / "a.csv", rows),
             "random-repeat1": write_trials(tmp_path / "b.csv", [(0, 1.0, 1.0, 20.0, "ok")])}
    frame = load_benchmark("branin", config, paths)
    seed0 = frame[frame["study"] == "random"]
    assert seed0["trial"].tolist() == [0, 1, 2, 3, 4, 5]
    assert seed0["number"].tolist() == [1, 2, 3, 4, 5, 6]
    assert seed0["status"].tolist() == ["failed", "ok", "ok", "diverged", "ok", "ok"]
    assert seed0["incumbent"].tolist()[1:] == [1, 2, 2, 2, 5]
    assert pd.isna(seed0["incumbent"].iloc[0])
    assert seed0["noise_free"].tolist() == pytest.approx(
        [branin(x, y) for _, x, y, *_ in sorted(rows)])
    expected = [branin(PI, 2.275), branin(0, 0), branin(0, 0), branin(0, 0),
                branin(9.42478, 2.475)]
    regret = seed0["regret"].to_numpy()
    assert math.isnan(regret[0])
    assert regret[1:] == pytest.approx(np.array(expected) - optimum)
    assert regret[2] > 50 > regret[1] >= 0  # observed better, truly worse: regret rises
    assert set(frame["regret_to"]) == {"optimum"} and set(frame["optimum"]) == {optimum}
    seed1 = frame[frame["study"] == "random-repeat1"].iloc[0]
    assert (seed1["strategy"], seed1["seed"]) == ("random", 1)
    assert seed1["regret"] == pytest.approx(branin(1.0, 1.0) - optimum)


def test_a_multi_fidelity_strategy_is_counted_by_cost_in_units_of_a_random_trial(tmp_path):
    config = function_config("branin", BRANIN_SPACE)
    config["objective"]["function"].update(budget=9, max_budget=9)
    config["strategies"] = {"random": {"budget": 2}, "hyperband": {"eta": 3}}
    config = resolve(config)
    random = pd.DataFrame({"trial": [0, 1], "round": 0, "x": [0.0, PI], "y": [0.0, 2.275],
                           "objective": [60.0, 0.5], "status": "ok", "resource": 18.0})
    # Looks at fidelity 1 cost 2 each; the full-fidelity ones (trials 3, 4) 18: a unit is 18.
    halving = pd.DataFrame({
        "trial": [0, 1, 2, 3, 4], "round": [0, 0, 0, 1, 2], "x": [0.0, 1.0, PI, PI, 0.0],
        "y": [0.0, 1.0, 2.275, 2.275, 0.0], "fidelity": [1, 1, 1, 9, 9],
        "objective": [50.0, 20.0, 1.0, 0.45, 0.1], "status": "ok",
        "resource": [2.0, 2.0, 2.0, 18.0, 18.0]})
    paths = {"random": str(tmp_path / "r.csv"), "hyperband": str(tmp_path / "h.csv")}
    random.to_csv(paths["random"], index=False)
    halving.to_csv(paths["hyperband"], index=False)
    frame = load_benchmark("mf", config, paths)
    seed0 = frame[frame["strategy"] == "hyperband"]
    # Spent 2, 4, 6, 24, 42: units ceil(./18) = 1, 1, 1, 2, 3; one row per unit, its last
    # trial, up to random's 2 units (equal cost): trial 4 is past them.
    assert seed0["trial"].tolist() == [2, 3] and seed0["number"].tolist() == [1, 2]
    assert math.isnan(seed0["regret"].iloc[0])  # no full-fidelity result in unit 1
    assert seed0["regret"].iloc[1] == pytest.approx(branin(PI, 2.275) - MINIMA["branin"][0])
    curves = regret_curves(frame)["mf"]
    assert curves["hyperband"].shape == curves["random"].shape == (1, 2)


def test_without_a_known_optimum_regret_is_to_the_best_found_by_any_strategy(tmp_path):
    space = {"x": {"type": "uniform", "low": -5.0, "high": 0.0},  # no minimiser inside
             "y": {"type": "uniform", "low": 0.0, "high": 10.0}}
    config = resolve(function_config("branin", space))
    assert Plan(config).objective.optimum(Plan(config).objective_settings,
                                          Plan(config).space) is None
    random = [(0, -1.0, 5.0, 30.0, "ok"), (1, -4.0, 9.0, 10.0, "ok")]
    sobol = [(0, -2.0, 2.0, 40.0, "ok"), (1, -3.0, 9.5, 2.0, "ok")]
    frame = load_benchmark("box", config, {"random": write_trials(tmp_path / "r.csv", random),
                                           "sobol": write_trials(tmp_path / "s.csv", sobol)})
    best = min(branin(x, y) for _, x, y, *_ in random + sobol)
    assert best == branin(-3.0, 9.5)
    assert set(frame["regret_to"]) == {"best found"} and set(frame["optimum"]) == {best}
    assert (frame["regret"] >= 0).all()
    final = frame.groupby("strategy")["regret"].last()
    assert final["sobol"] == 0.0
    assert final["random"] == pytest.approx(branin(-4.0, 9.0) - best)


def test_at_a_published_minimiser_the_regret_is_next_to_nothing_and_not_negative(tmp_path):
    names = ("x1", "x2", "x3")
    config = resolve(function_config(
        "hartmann3", {n: {"type": "uniform", "low": 0.0, "high": 1.0} for n in names}))
    point = MINIMA["hartmann3"][1][0]
    frame = load_benchmark("h3", config, {"random": write_trials(
        tmp_path / "t.csv", [(0, *point, -3.5, "ok")], names)})
    row = frame.iloc[0]
    assert row["regret_to"] == "optimum" and row["optimum"] == MINIMA["hartmann3"][0]
    assert row["noise_free"] == FUNCTIONS["hartmann3"](*point)
    assert 0 <= row["regret"] < 1e-5  # the published minimum is rounded to 6 digits


def test_csv_values_become_the_parameter_types_the_objective_receives():
    space = SearchSpace.from_config({
        "units": {"type": "choice", "choices": [32, 64]},
        "activation": {"type": "choice", "choices": ["relu", "tanh"]},
        "layers": {"type": "int", "low": 1, "high": 4},
        "rate": {"type": "loguniform", "low": 1e-4, "high": 1e-1}})
    row = {"rate": np.float64(0.01), "layers": np.float64(3.0), "activation": "tanh",
           "units": np.int64(64)}
    params = typed_params(space, row)
    assert list(params) == ["units", "activation", "layers", "rate"]  # the space's order
    assert params == {"units": 64, "activation": "tanh", "layers": 3, "rate": 0.01}
    assert [type(v) for v in params.values()] == [int, str, int, float]
    with pytest.raises(ValueError, match="units: 48"):
        typed_params(space, {**row, "units": 48})


# --- statistics ---------------------------------------------------------------------------

def test_nemenyi_q_and_the_critical_difference_match_demsars_tables():
    # Demšar (2006), Table 5(a), the two-tailed Nemenyi test, alpha 0.05 and 0.10.
    published = {0.05: [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164],
                 0.10: [1.645, 2.052, 2.291, 2.459, 2.589, 2.693, 2.780, 2.855, 2.920]}
    for alpha, values in published.items():
        computed = [nemenyi_q(k, alpha) for k in range(2, 11)]
        assert computed == pytest.approx(values, abs=1e-3), alpha
    # His worked example: 4 algorithms on 14 data sets, CD = 1.25 at alpha 0.05.
    assert critical_difference(4, 14) == pytest.approx(1.25, abs=5e-3)


def regret_frame(medians: dict[str, list[float]], strategies=("tpe", "gp", "random")):
    """regret.csv's rows with only what the ranks read: the task means."""
    return pd.DataFrame([{"benchmark": b, "strategy": s, RANKED_BY: v}
                         for b, values in medians.items()
                         for s, v in zip(strategies, values, strict=True)])


def test_ranks_friedman_and_nemenyi_agree_with_scipy_and_the_verdict_names_the_winner():
    medians = {f"b{i}": [0.1 * i, 0.5 + i, 9.0 + i] for i in range(5)}
    medians["b5"] = [2.0, 2.0, 7.0]  # a tie: ranks 1.5, 1.5, 3
    regret = regret_frame(medians)
    ranks = rank_table(regret).set_index("strategy")
    expected = np.vstack([rankdata(v) for v in medians.values()])
    assert ranks.loc[["tpe", "gp", "random"], list(medians)].to_numpy().T.tolist() == \
        expected.tolist()
    assert ranks["average_rank"].to_dict() == pytest.approx(
        dict(zip(["tpe", "gp", "random"], expected.mean(axis=0), strict=True)))
    assert ranks[list(medians)].sum().tolist() == [6.0] * 6  # k (k + 1) / 2 per benchmark

    friedman = friedman_table(regret)
    test = friedman.iloc[0]
    scipy_result = friedmanchisquare(*np.array(list(medians.values())).T)
    assert (test["test"], test["k"], test["n"]) == ("friedman", 3, 6)
    assert test["statistic"] == pytest.approx(scipy_result.statistic)
    assert test["p_value"] == pytest.approx(scipy_result.pvalue) and test["p_value"] < 0.05
    cd = nemenyi_q(3) * math.sqrt(3 * 4 / (6 * 6))
    assert test["critical_difference"] == pytest.approx(cd)
    pairs = friedman[friedman["test"] == "nemenyi"].set_index(["strategy", "other"])
    assert list(pairs.index) == [("tpe", "gp"), ("tpe", "random"), ("gp", "random")]
    difference = ranks.loc["random", "average_rank"] - ranks.loc["tpe", "average_rank"]
    assert pairs.loc[("tpe", "random"), "rank_difference"] == pytest.approx(difference)
    assert pairs["exceeds_cd"].tolist() == [False, True, False]

    verdict, power = suite_sentences(rank_table(regret), friedman)
    assert verdict == (
        "Across 6 benchmarks, average ranks (1 = least mean normalised final regret): tpe "
        "1.08, "
        f"gp 1.92, random 3; Friedman p = {test['p_value']:.3g}; tpe beats random by more "
        f"than the critical difference {cd:.3g} (rank difference {difference:.3g}).")
    assert power.startswith("With 6 benchmarks and 3 strategies even the same order")


def test_a_benchmark_a_strategy_could_not_run_is_left_out_of_ranks_and_said_so():
    """CMA-ES cannot run on a space of choices only: the benchmarks without it leave the
    ranks and the Friedman test (complete blocks, scipy's on the rest), and the page says
    which and why."""
    from hpstudy.report.suite_page import left_out_sentences

    medians = {f"b{i}": [0.1 * i, 0.5 + i, 9.0 + i] for i in range(4)}
    regret = regret_frame(medians)
    missing = pd.DataFrame([{"benchmark": "nas", "strategy": s, RANKED_BY: v}
                            for s, v in (("tpe", 5.0), ("random", 0.1))])
    with_nas = pd.concat([regret, missing], ignore_index=True)
    assert rank_table(with_nas).equals(rank_table(regret))
    test = friedman_table(with_nas).iloc[0]
    assert test["n"] == 4 and test["p_value"] == pytest.approx(
        friedmanchisquare(*np.array(list(medians.values())).T).pvalue)
    ran = {b: ["tpe", "gp", "random"] for b in medians} | {"nas": ["tpe", "random"]}
    assert left_out_sentences(ran, list(medians), ["tpe", "gp", "random"]) == [
        "Left out of the comparisons across benchmarks (every strategy compared must have "
        "run on each): nas (no gp). Their results per benchmark are in the regret table and "
        "figures."]
    # The shorter list: where it ran (a multi-fidelity strategy), or where it did not.
    assert left_out_sentences({"a": ["tpe", "late"], "b": ["tpe"], "c": ["tpe"]},
                              ["a", "b", "c"], ["tpe"]) == [
        "late is left out of the comparisons across benchmarks: it ran only on a."]
    assert left_out_sentences({"a": ["tpe", "gp"], "b": ["tpe", "gp"], "c": ["tpe"]},
                              ["a", "b", "c"], ["tpe"]) == [
        "gp is left out of the comparisons across benchmarks: it did not run on c."]
    everywhere = {b: ["tpe", "gp", "random"] for b in medians}
    assert left_out_sentences(everywhere, list(medians), ["tpe", "gp", "random"]) == []


def test_few_benchmarks_detect_nothing_and_the_report_says_why():
    regret = regret_frame({"a": [1.0, 2.0, 3.0], "b": [1.0, 2.0, 3.0]})  # full agreement
    friedman = friedman_table(regret)
    p = friedman.iloc[0]["p_value"]
    assert p == pytest.approx(best_possible_p(3, 2)) == pytest.approx(math.exp(-2))
    verdict, power = suite_sentences(rank_table(regret), friedman)
    assert verdict.endswith(f"Friedman p = {p:.3g}: no difference detectable with 2 "
                            f"benchmarks.")
    assert "gives Friedman p = 0.135 at best, so no difference can be detected" in power
    assert "critical difference 2.34 exceeds the largest possible rank difference, 2" in power
    assert "3 benchmarks are the fewest" in power

    two = friedman_table(regret_frame({"a": [1.0, 2.0], "b": [2.0, 1.0]}, ("tpe", "random")))
    assert len(two) == 1 and "needs at least 3 strategies" in two.iloc[0]["note"]
    assert math.isnan(two.iloc[0]["p_value"])


def test_benchmarks_needed_is_the_fewest_with_which_scipy_can_reach_alpha():
    for k in (3, 4, 6):
        needed = benchmarks_needed(k)
        for n in (needed - 1, needed):
            unanimous = np.tile(np.arange(k, dtype=float), (n, 1))  # the same order on all
            p = friedmanchisquare(*unanimous.T).pvalue if n >= 2 else 1.0
            separable = critical_difference(k, n) < k - 1 if n >= 1 else False
            assert (p < 0.05 and separable) == (n == needed), (k, n)


def test_regret_table_quantiles_are_numpys_and_a_seed_without_result_counts_as_worst():
    rng = np.random.default_rng(3)
    values = rng.uniform(0, 10, (5, 6))
    rows = [{"benchmark": "b", "strategy": "tpe", "seed": s, "number": t + 1,
             "regret": values[s, t], "regret_to": "optimum"} for s in range(5) for t in range(6)]
    rows += [{"benchmark": "b", "strategy": "random", "seed": s, "number": t + 1,
              "regret": math.nan if s == 2 else float(s + t), "regret_to": "optimum"}
             for s in range(3) for t in range(4)]
    table = regret_table(pd.DataFrame(rows)).set_index("strategy")
    tpe = table.loc["tpe"]
    assert (tpe["seeds"], tpe["budget"], tpe["half_budget"], tpe["no_result"]) == (5, 6, 3, 0)
    assert [tpe["q25_regret"], tpe["median_regret"], tpe["q75_regret"]] == pytest.approx(
        np.percentile(values[:, -1], [25, 50, 75]).tolist())
    assert tpe["median_regret_half"] == pytest.approx(np.median(values[:, 2]))
    random = table.loc["random"]  # finals 3, 4 and no result
    assert random["no_result"] == 1
    assert [random["q25_regret"], random["median_regret"], random["q75_regret"]] == \
        [3.5, 4.0, math.inf]
    assert quantiles([1.0, 2.0, 3.0, 10.0]) == pytest.approx(
        np.percentile([1.0, 2.0, 3.0, 10.0], [25, 50, 75]).tolist())


# --- two real benchmarks, run by the workflow ---------------------------------------------

SUITE_STRATEGIES = {"random": {"budget": 8}, "sobol": {"budget": 8},
                    "tpe": {"budget": 8, "batch_size": 2, "n_startup_jobs": 3}}
BENCHMARKS = {"branin": BRANIN_SPACE,
              "hartmann3": {n: {"type": "uniform", "low": 0.0, "high": 1.0}
                            for n in ("x1", "x2", "x3")}}


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """(root, {benchmark: (resolved config, {study: trials.csv})}), each benchmark run in
    root / <benchmark>; Hartmann-3's held-out tests (test.json) too."""
    root = tmp_path_factory.mktemp("suite")
    benchmarks = {}
    for name, space in BENCHMARKS.items():
        config = function_config(name, space, copy.deepcopy(SUITE_STRATEGIES), repeats=3)
        config["execution"] = {"fold_jobs": "per_study"}
        config["tracking"] = {"uri": "sqlite:///results/mlflow.db"}  # in the benchmark's dir
        run = Workdir(root / name)
        run.path.mkdir()
        path = run.write_config(config)
        studies = Plan.from_config(config).studies
        outputs = ("trials.csv", "test.json") if name == "hartmann3" else ("trials.csv",)
        run.snakemake("--cores", "2", "--configfile", str(path), "--replace-workflow-config",
                      *(f"results/{study}/{output}" for study in studies for output in outputs))
        benchmarks[name] = (resolve(config),
                            {s: str(run.results / s / "trials.csv") for s in studies})
    return root, benchmarks


@pytest.mark.e2e
def test_a_suite_of_two_real_benchmarks_is_reported_reproducibly(suite):
    root, benchmarks = suite
    written = build_suite_report(benchmarks, str(root / "report"))
    out = root / "report"
    trials = pd.read_csv(out / "regret_trials.csv")
    assert len(trials) == 2 * 3 * 3 * 8
    for (name, study), rows in trials.groupby(["benchmark", "study"]):
        source = pd.read_csv(benchmarks[name][1][study]).sort_values("trial")
        params = source[list(BENCHMARKS[name])].to_numpy()
        noise_free = [FUNCTIONS[name](*point) for point in params]
        assert rows["noise_free"].to_numpy() == pytest.approx(noise_free, rel=1e-12)
        incumbent = np.minimum.accumulate(source["objective"].to_numpy())  # all ok here
        chosen = [int(np.flatnonzero(source["objective"].to_numpy() == best)[0])
                  for best in incumbent]
        expected = np.array(noise_free)[chosen] - MINIMA[name][0]
        assert rows["regret"].to_numpy() == pytest.approx(expected, abs=1e-5)

    regret = pd.read_csv(out / "regret.csv")
    assert list(zip(regret["benchmark"], regret["strategy"], strict=True)) == [
        (b, s) for b in BENCHMARKS for s in SUITE_STRATEGIES]
    assert (regret["seeds"] == 3).all() and (regret["budget"] == 8).all()
    assert (regret["no_result"] == 0).all() and (regret["regret_to"] == "optimum").all()
    assert (regret[["q25_regret", "median_regret", "q75_regret", "median_regret_half"]]
            >= 0).all().all()
    assert ((regret["q25_regret"] <= regret["median_regret"])
            & (regret["median_regret"] <= regret["q75_regret"])).all()

    ranks = pd.read_csv(out / "ranks.csv").set_index("strategy")
    assert sorted(ranks.index) == sorted(SUITE_STRATEGIES)
    assert ranks[list(BENCHMARKS)].sum().tolist() == [6.0, 6.0]  # k (k + 1) / 2
    assert ranks["average_rank"].tolist() == pytest.approx(
        ranks[list(BENCHMARKS)].mean(axis=1).tolist())
    for name in BENCHMARKS:
        medians = regret[regret["benchmark"] == name].set_index("strategy")[RANKED_BY]
        assert ranks[name].to_dict() == pytest.approx(
            dict(zip(medians.index, rankdata(medians), strict=True)))

    friedman = pd.read_csv(out / "friedman.csv")
    test = friedman.iloc[0]
    assert (test["test"], test["k"], test["n"]) == ("friedman", 3, 2)
    matrix = regret.pivot(index="benchmark", columns="strategy", values=RANKED_BY)
    assert test["p_value"] == pytest.approx(friedmanchisquare(*matrix.to_numpy().T).pvalue)
    assert test["p_value"] >= math.exp(-2)  # 3 strategies on 2 benchmarks: never below
    assert len(friedman) == 4 and not friedman["exceeds_cd"].iloc[1:].any()

    # Across benchmarks, on normalised regret (each statistic's own checks:
    # tests/report/test_aggregate.py): the tables hold what the trials say.
    normalised = trials["regret"] / trials.groupby("benchmark")["regret"].transform("max")
    finals = trials.assign(normalised=normalised).sort_values("number").groupby(
        ["benchmark", "strategy", "seed"])["normalised"].last()
    task_means = finals.groupby(["benchmark", "strategy"]).mean()
    for row in regret.itertuples():
        assert getattr(row, RANKED_BY) == pytest.approx(task_means[row.benchmark, row.strategy])
    aggregate = pd.read_csv(out / "aggregate.csv").set_index("strategy")
    assert aggregate["average_rank"].to_dict() == pytest.approx(ranks["average_rank"].to_dict())
    for strategy in SUITE_STRATEGIES:
        mine = finals.xs(strategy, level="strategy").to_numpy()
        assert aggregate.loc[strategy, "iqm_final"] == pytest.approx(trim_mean(mine, 0.25))
        assert aggregate.loc[strategy, "iqm_final_low"] <= aggregate.loc[strategy, "iqm_final"]
        assert aggregate.loc[strategy, "runs"] == 2 * 3
    pairwise = pd.read_csv(out / "pairwise.csv")
    assert len(pairwise) == 3 and (pairwise["benchmarks"] == 2).all()
    assert pairwise["p_holm"].dropna().ge(pairwise["p_value"].dropna()).all()

    page = (out / "index.html").read_text(encoding="utf-8")
    # Both benchmarks are test functions: no sentence by kind.
    verdict, power, iqms, tests = written["sentences"]
    assert pd.read_csv(out / "by_kind.csv")["kind"].unique().tolist() == ["test function"]
    assert iqms.startswith("Final normalised regret (0 = the optimum") and escape(iqms) in page
    assert tests.endswith("no pair of strategies told apart with 2 benchmarks.")
    assert verdict.startswith("Across 2 benchmarks, average ranks")
    assert verdict.endswith("no difference detectable with 2 benchmarks.")
    assert escape(verdict) in page and escape(power) in page  # Jinja2 autoescapes
    assert "branin: function objective (test function; name=branin, noise_std=0.5); space " \
           "x, y; random 8 trials x 3 seeds" in page
    assert "regret to the optimum 0.397887" in page and "regret to the optimum -3.86278" in page
    for name in ("regret_curves", "average_ranks", "critical_difference", "intervals"):
        png = (out / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG")
        assert f'<img alt="{name}" src="data:image/png;base64,' in page

    # Every file it writes is an output of the suite's report rule (workflow/suite.smk).
    assert {"html", *written["tables"], *written["figures"]} == set(SUITE_REPORT)
    first = {path.name: path.read_bytes() for path in out.iterdir()}
    assert sorted(first) == ["aggregate.csv", "average_ranks.png", "by_kind.csv",
                             "critical_difference.png", "friedman.csv", "index.html",
                             "intervals.png", "pairwise.csv", "ranks.csv", "regret.csv",
                             "regret_curves.png", "regret_trials.csv", "resource.csv"]
    build_suite_report(benchmarks, str(out))
    assert {path.name: path.read_bytes() for path in out.iterdir()} == first

    # The workflow's adapter script, started as the rules start their jobs (hpstudy.launch):
    # the same files.
    adapter = root / "adapter"
    spec = {"input": {"named": {"trials": [p for _, paths in benchmarks.values()
                                           for p in paths.values()]}},
            "output": {"named": {"html": str(adapter / "index.html")},
                       "positional": [str(adapter / "index.html")]},
            # suite.smk's params: the configs without execution and tracking
            "params": {"configs": {n: {k: v for k, v in c.items()
                                       if k not in ("execution", "tracking")}
                                   for n, (c, _) in benchmarks.items()},
                       "trials": {n: p for n, (_, p) in benchmarks.items()}},
            "wildcards": {}}
    spec["input"]["positional"] = spec["input"]["named"]["trials"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPSTUDY_WORKER")}
    env["PYTHONPATH"] = str(REPO / "workflow")
    result = subprocess.run([sys.executable, "-m", "hpstudy.launch", "suite_report", "1",
                             str(root / "suite_report.log"), json.dumps(spec)],
                            capture_output=True, text=True, env=env, cwd=root, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert {path.name: path.read_bytes() for path in adapter.iterdir()} == first


@pytest.mark.e2e
def test_the_hartmann3_benchmark_runs_per_study_and_tests_the_exact_value(suite):
    """Each study of the Hartmann-3 benchmark (3 strategies x 3 seeds, a job per study):
    x1..x3 in the unit cube, each fold's value Hartmann-3 plus the noise its own seed draws,
    the objective their mean, and the best trial tested at the exact, noise-free value."""
    root, benchmarks = suite
    config, trials = benchmarks["hartmann3"]
    results = root / "hartmann3" / "results"
    hartmann3, noise_std = FUNCTIONS["hartmann3"], config["objective"]["function"]["noise_std"]
    names = ["x1", "x2", "x3"]
    for study, path in trials.items():
        table = pd.read_csv(path)
        assert list(table["trial"]) == list(range(8)) and (table["status"] == "ok").all()
        assert list(table.columns[2:5]) == names
        assert table[names].stack().between(0, 1).all()
        folds = {(record["trial"], record["fold"]): record
                 for bundle in results.glob(f"{study}/rounds/round_*_results.json")
                 for record in json.loads(bundle.read_text())["folds"]}
        assert sorted(folds) == [(trial, fold) for trial in range(8) for fold in range(2)]
        for _, row in table.iterrows():
            exact = hartmann3(*row[names])
            values = [exact + noise_std * float(
                np.random.default_rng(folds[row["trial"], fold]["seed"]).standard_normal())
                for fold in range(2)]
            assert [folds[row["trial"], fold]["metrics"]["value"] for fold in range(2)] == \
                pytest.approx(values, rel=1e-12)
            assert row["objective"] == pytest.approx(np.mean(values), rel=1e-12)
        test = json.loads((results / study / "test.json").read_text())
        best = table.loc[table["objective"].idxmin()]
        assert test["trial"] == best["trial"] and test["cv_objective"] == best["objective"]
        assert test["test_objective"] == hartmann3(**test["params"])  # exact: no noise
        assert [test["params"][n] for n in names] == pytest.approx(list(best[names]),
                                                                   rel=1e-12)
    tpe_rounds = len(Plan.from_config(config).rounds("tpe"))
    assert tpe_rounds > 1  # rounds in one job, each proposed from the rounds before
    assert len(list(results.glob("tpe/rounds/round_*_results.json"))) == tpe_rounds
    assert not list(results.glob("*/trials")), "per_study wrote per-trial files"

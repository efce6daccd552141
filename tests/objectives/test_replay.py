"""The replay objective: a SURROGATE fitted on a finished study's trials.csv. The source here
is a real study (a noisy Branin over a dense 8 x 8 grid), so the surrogate can be checked
against the function it stands in for; then a replay study runs through the workflow, with
the source file as an input of its training jobs. The source's trials.csv is written
in-process by the functions the workflow's jobs call, so that the surrogate's tests need no
workflow; the end-to-end test checks that the workflow writes the same bytes."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from hpstudy import jobs
from hpstudy.config import ConfigError, load_schema, objective_defaults, resolve
from hpstudy.objectives import objective_class
from hpstudy.objectives.function import branin
from hpstudy.objectives.replay import Replay, holdout_check
from hpstudy.objectives.replay_surrogate import infer_scale, pooled_fold_std, surrogate
from hpstudy.plan import Plan
from hpstudy.space import SearchSpace
from tests.helpers.workdir import Workdir, load_config

NOISE_STD = 2.0  # per fold, independent (a seed per fold): the fold spread to recover
SPACE = {"x": {"type": "uniform", "low": -5.0, "high": 10.0, "grid": 8},
         "y": {"type": "uniform", "low": 0.0, "high": 15.0, "grid": 8}}


def _source_config() -> dict:
    config = load_config("branin")
    config.update(experiment="test-replay-source", space=SPACE, strategies={"grid": {}},
                  execution={"fold_jobs": "per_round"})
    config["objective"]["function"] = {"name": "branin", "noise_std": NOISE_STD}
    return config


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """The source study's trials.csv (64 ok trials, 2 folds), written as its jobs write it:
    the grid is one round, proposed, evaluated (execution.fold_jobs: per_round) and
    summarized."""
    directory = tmp_path_factory.mktemp("replay-source")
    plan = Plan.from_config(_source_config())
    [trial_ids] = plan.rounds("grid")
    round_path, results, timings = (str(directory / name) for name in (
        "round_0.json", "round_0_results.json", "round_0_timings.json"))
    jobs.propose_round("grid", plan.config["space"], plan.settings("grid"),
                       plan.study_seed("grid"), 0, trial_ids, None, [], round_path)
    jobs.evaluate_round(plan.objective_name, plan.objective_settings, round_path,
                        list(range(plan.folds)), None, 1, results, timings)
    jobs.summarize_study(plan.space.names, [round_path], [results], [timings],
                         str(directory / "trials.csv"), str(directory / "timings.csv"))
    return directory / "trials.csv"


def _settings(path, **changes) -> dict:
    return {**objective_defaults("replay"), "trials": str(path), "fold_scale": "identity",
            "fold_metric": "value", **changes}


def _space(spec=None) -> SearchSpace:
    return SearchSpace.from_config(spec or SPACE)


def _points(count: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"x": float(x), "y": float(y)}
            for x, y in zip(rng.uniform(-5, 10, count), rng.uniform(0, 15, count), strict=True)]


def test_it_is_labelled_a_surrogate_everywhere():
    import hpstudy.objectives.replay as module

    assert objective_class("replay") is Replay and "surrogate" in Replay.label
    assert Replay.describe({"trials": "a/b/t.csv"}) == "surrogate replaying t.csv"
    assert module.__doc__.startswith("A SURROGATE") and "NOT reproduce" in module.__doc__
    assert "ok trials only" in module.__doc__
    assert "The SURROGATE's optimum, not the real problem's" in \
        " ".join(Replay.optimum.__doc__.split())
    block = load_schema()["properties"]["objective"]["properties"]["replay"]
    assert "SURROGATE" in block["description"] and block["required"] == ["trials"]


def test_the_surrogate_predicts_held_out_trials_and_the_function_it_replays(source):
    settings = _settings(source)
    check = holdout_check(settings, _space())
    assert check["trials"] == 64 and check["spearman"] > 0.9, check
    assert check["rmse"] < 10 and check["mae"] <= check["rmse"], check
    points = _points(40, seed=3)  # off the grid: never seen by the fit
    predicted = [Replay.noise_free(settings, point) for point in points]
    true = [branin(**point) for point in points]
    errors = np.subtract(predicted, true)
    assert np.sqrt(np.mean(errors**2)) < 4 and np.abs(errors).max() < 10, errors
    # The surrogate's optimum: at most its value at any source point, near Branin's.
    optimum = Replay.optimum(settings, _space())
    assert optimum <= min(Replay.noise_free(settings, p) for p in surrogate(settings)
                          .source.points) + 1e-12
    assert abs(optimum - 0.397887) < 4


def test_the_fold_noise_is_the_sources_pooled_fold_spread(source):
    table = pd.read_csv(source)
    folds = table[["fold_0_value", "fold_1_value"]].to_numpy()
    # Two folds: each trial's unbiased variance is (f0 - f1)^2 / 2, one degree of freedom.
    expected = math.sqrt(np.mean((folds[:, 0] - folds[:, 1]) ** 2 / 2))
    fitted = surrogate(_settings(source))
    assert fitted.fold_std == pytest.approx(expected, rel=1e-12)
    assert fitted.fold_std == pytest.approx(pooled_fold_std(folds), rel=1e-12)
    # Independent N(0, NOISE_STD) per fold: the estimate (64 degrees of freedom) is close.
    assert NOISE_STD / 1.5 < fitted.fold_std < NOISE_STD * 1.5
    assert surrogate(_settings(source, noise="none")).fold_std == 0.0


def test_a_fold_is_the_mean_plus_seeded_noise_and_the_test_is_the_mean(source):
    settings, point = _settings(source), {"x": 2.5, "y": 4.0}
    first = Replay.evaluate_fold(settings, point, 0, 11)
    assert first == Replay.evaluate_fold(settings, point, 1, 11)  # the seed decides
    assert first["status"] == "ok" and first["epochs_run"] == 0 and first["history"] == {}
    values = [Replay.evaluate_fold(settings, point, 0, seed)["metrics"]["value"]
              for seed in range(400)]
    assert len(set(values)) == 400
    mean, fold_std = Replay.noise_free(settings, point), surrogate(settings).fold_std
    assert abs(np.mean(values) - mean) < 4 * fold_std / math.sqrt(400)
    assert np.std(values) == pytest.approx(fold_std, rel=0.15)
    quiet = _settings(source, noise="none")
    assert Replay.evaluate_fold(quiet, point, 0, 11)["metrics"]["value"] == \
        Replay.noise_free(quiet, point)
    records = [{**Replay.evaluate_fold(settings, point, 0, s), "fold": k}
               for k, s in enumerate((5, 6))]
    score = Replay.score_trial(settings, records)
    assert score["objective"] == pytest.approx(np.mean([r["metrics"]["value"] for r in records]))
    assert set(score["metrics"]) >= {"fold_0_value", "fold_1_value"}
    test = Replay.evaluate_test(settings, point, 3)
    assert test["status"] == "ok" and test["test_objective"] == mean


def test_the_same_file_and_settings_give_the_same_surrogate(source, tmp_path):
    from hpstudy.objectives.replay_surrogate import _fitted

    settings, points = _settings(source), _points(10, seed=8)
    before = surrogate(settings).mean(points)
    _fitted.cache_clear()
    assert surrogate(settings).mean(points).tolist() == before.tolist()  # refitted: the same
    changed = tmp_path / "trials.csv"
    table = pd.read_csv(source)
    table.loc[0, "objective"] += 50.0
    table.to_csv(changed, index=False)
    assert surrogate(_settings(changed)).mean(points).tolist() != before.tolist()


def test_check_names_the_key_of_each_problem(source, tmp_path):
    space = _space()
    assert Replay.check(_settings(source), space) == []
    missing = Replay.check(_settings(tmp_path / "nowhere.csv"), space)
    assert len(missing) == 1 and missing[0].startswith("objective.replay.trials: no file")
    assert Replay.check({**objective_defaults("replay")}, space)[0].startswith(
        "objective.replay.trials: required")
    wrong = Replay.check(_settings(source), _space({"x": SPACE["x"], "z": SPACE["y"]}))
    assert any(e.startswith("space.z: not a parameter of the replayed study") for e in wrong)
    assert any(e.startswith("space.y: missing") for e in wrong)
    narrow = Replay.check(_settings(source), _space({"x": {**SPACE["x"], "high": 5.0},
                                                     "y": SPACE["y"]}))
    assert narrow == [narrow[0]] and narrow[0].startswith("space.x: 24 of the replayed")
    few = tmp_path / "few.csv"
    pd.read_csv(source).head(9).to_csv(few, index=False)
    assert Replay.check(_settings(few), space) == [
        f"objective.replay.trials: 9 ok trial(s) in {str(few)!r}; the surrogate needs at "
        f"least 10"]
    accuracy = Replay.check(_settings(source, fold_metric="accuracy"), space)
    assert accuracy[0].startswith("objective.replay.fold_metric: no fold_<k>_accuracy")
    assert "fold_0_value" in accuracy[0]
    as_error = Replay.check(_settings(source, fold_scale="log10_error"), space)
    assert as_error[0].startswith("objective.replay.fold_scale: log10_error") and \
        as_error[0].endswith("use identity")
    scale = Replay.check(_settings(source, scales={"y": "log", "w": "linear"}), space)
    assert any(e.startswith("objective.replay.scales.w: not a parameter") for e in scale)
    assert any(e.startswith("objective.replay.scales.y: log needs values > 0") for e in scale)


def test_a_scale_that_is_not_the_spaces_is_caught(source, tmp_path):
    """A loguniform parameter: the surrogate finds the log scale in the source's points; a
    linear one forced by `scales` disagrees with the space, and check says so."""
    table = pd.read_csv(source)
    table["y"] = 10 ** (table["y"] / 5 - 3)  # 1e-3 .. 1 on an even log grid
    logged = tmp_path / "trials.csv"
    table.to_csv(logged, index=False)
    space = _space({"x": SPACE["x"], "y": {"type": "loguniform", "low": 1e-3, "high": 1.0}})
    assert infer_scale(table["y"].tolist()) == "log" and infer_scale(table["x"].tolist()) \
        == "linear"
    assert Replay.check(_settings(logged), space) == []
    forced = Replay.check(_settings(logged, scales={"y": "linear"}), space)
    assert forced == ["objective.replay.scales.y: the surrogate would encode it on a linear "
                      "scale (the source's points are most evenly spread on it) but space.y "
                      "is loguniform: set objective.replay.scales.y: log"]
    momentum = 1 - table["y"] * 0.3  # a complement: 1 - loguniform
    assert infer_scale(momentum.tolist()) == "log_complement"


def test_a_config_resolves_with_the_replay_objective_and_rejects_a_wrong_space(source):
    config = load_config("branin")
    config["objective"] = {"name": "replay", "replay": {"trials": str(source),
                                                      "fold_scale": "identity",
                                                      "fold_metric": "value"}}
    config["space"] = SPACE
    resolved = resolve(config)
    assert resolved["objective"]["replay"]["noise"] == "folds"
    config["space"] = {"x": SPACE["x"]}
    with pytest.raises(ConfigError, match=r"space\.y: missing; the replayed study"):
        resolve(config)


@pytest.mark.e2e
def test_a_replay_study_runs_and_its_source_is_an_input_of_its_training(source, tmp_path):
    # The source study run by the workflow: the trials.csv the other tests fitted on.
    source_study = Workdir(tmp_path / "source-study")
    source_study.path.mkdir()
    source_study.write_config(_source_config())
    source_study.snakemake("--cores", "2", "results/grid/trials.csv")
    ran = source_study.results / "grid" / "trials.csv"
    assert ran.read_bytes() == source.read_bytes()
    run = Workdir(tmp_path / "replay")
    run.path.mkdir()
    (run.path / "source").mkdir()
    copy = run.path / "source" / "trials.csv"
    copy.write_bytes(ran.read_bytes())
    config = load_config("branin")
    config.update(experiment="test-replay", space=SPACE,
                  strategies={"random": {"budget": 8}},
                  execution={"fold_jobs": "per_round"})
    config["objective"] = {"name": "replay", "replay": {
        "trials": "source/trials.csv", "fold_scale": "identity", "fold_metric": "value"}}
    run.write_config(config)
    targets = ("results/random/trials.csv", "results/random/test.json")
    run.snakemake("--cores", "2", *targets)
    table = pd.read_csv(run.results / "random" / "trials.csv")
    assert len(table) == 8 and (table["status"] == "ok").all()
    assert np.isfinite(table["objective"]).all()
    assert table["objective"].to_numpy() == pytest.approx(
        table[["fold_0_value", "fold_1_value"]].mean(axis=1).to_numpy())
    settings = _settings(copy)
    test = json.loads((run.results / "random" / "test.json").read_text())
    assert test["test_objective"] == pytest.approx(Replay.noise_free(settings, test["params"]))
    assert "Nothing to be done" in run.snakemake("-n", *targets).stdout
    # A changed source retrains. (Only touching it does not: Snakemake compares a newer small
    # input's checksum with the one it recorded.)
    table = pd.read_csv(copy)
    table.loc[0, "objective"] += 1.0
    table.to_csv(copy, index=False)
    dry = run.snakemake("-n", *targets).stdout
    assert "Updated input files: source/trials.csv" in dry, dry
    assert "rule evaluate_round:" in dry and "rule evaluate_test:" in dry, dry

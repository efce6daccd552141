"""The workflow's jobs (hpstudy.jobs) called directly, without Snakemake: each writes the file
the next job reads. Real strategies propose on Branin, the function objective trains (it is
Branin plus seeded noise per fold: microseconds, no TensorFlow), and the summaries are read
back."""

from __future__ import annotations

import itertools
import random
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hpstudy import fileio, jobs
from hpstudy.objectives.function import branin
from hpstudy.plan import Plan
from hpstudy.seeds import derive_seed
from hpstudy.space import SearchSpace
from tests.helpers.workdir import load_config

FOLDS = [0, 1]


def branin_plan(**function_settings) -> Plan:
    """tests/configs/branin.yaml (Branin, noise_std 0.5, 2 folds; TPE in rounds of 2)."""
    config = load_config("branin")
    config["objective"]["function"].update(function_settings)
    return Plan.from_config(config)


def propose(plan: Plan, strategy: str, round_index: int, output: Path,
            previous_round: Path | None = None, previous_scores=(),
            seed: int | None = None) -> dict:
    jobs.propose_round(strategy, plan.config["space"], plan.settings(strategy),
                       plan.study_seed(strategy) if seed is None else seed, round_index,
                       plan.rounds(strategy)[round_index],
                       None if previous_round is None else str(previous_round),
                       [str(path) for path in previous_scores], str(output))
    return fileio.read_json(output)


def train(plan: Plan, round_path: Path, trial: int, directory: Path,
          folds=FOLDS) -> tuple[list[Path], list[Path]]:
    """Fold and timing files of one trial, as the train_folds job writes them."""
    outputs = [directory / f"trial_{trial}" / f"fold_{fold}.json" for fold in folds]
    timings = [directory / f"trial_{trial}" / f"timing_{fold}.json" for fold in folds]
    jobs.train_folds(plan.objective_name, plan.objective_settings, str(round_path), trial,
                     folds, None, 1, [str(p) for p in outputs], [str(p) for p in timings])
    return outputs, timings


def score(plan: Plan, fold_paths: list[Path], output: Path) -> dict:
    jobs.score_trial(plan.objective_name, plan.objective_settings,
                     [str(path) for path in fold_paths], str(output))
    return fileio.read_json(output)


def write_score(path: Path, trial: int, objective: float | None, status: str = "ok") -> str:
    fileio.write_json(path, {"trial": trial, "params": {"x": 1.0, "y": 2.0}, "seed": trial,
                             "folds": 2, "objective": objective, "status": status,
                             "metrics": {}})
    return str(path)


# --- propose_round ------------------------------------------------------------------------


def test_propose_round_writes_the_round_file(tmp_path):
    plan = branin_plan()
    content = propose(plan, "random", 0, tmp_path / "round_0.json")
    space = SearchSpace.from_config(plan.config["space"])

    assert content["strategy"] == "random" and content["round"] == 0
    assert content["history"] == []
    assert [p["trial"] for p in content["proposals"]] == list(range(6))
    # Each trial's seed comes from (study seed, strategy, trial id), not from its position.
    assert [p["seed"] for p in content["proposals"]] == [
        derive_seed(7, "random", "trial", t) for t in range(6)]
    for entry in content["proposals"]:
        assert list(entry["params"]) == ["x", "y"]
        assert -5.0 <= entry["params"]["x"] <= 10.0 and 0.0 <= entry["params"]["y"] <= 15.0
        assert space.contains(entry["params"])
    assert len({tuple(p["params"].values()) for p in content["proposals"]}) == 6
    # Canonical JSON, the same bytes from a fresh call; another study seed proposes otherwise.
    assert (tmp_path / "round_0.json").read_text() == fileio.dumps_json(content)
    propose(plan, "random", 0, tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == (tmp_path / "round_0.json").read_bytes()
    other = propose(plan, "random", 0, tmp_path / "other.json", seed=8)
    assert [p["params"] for p in other["proposals"]] != [p["params"] for p in
                                                         content["proposals"]]


def test_an_adaptive_round_sees_every_earlier_round_in_trial_order(tmp_path):
    plan = branin_plan()
    rounds = [tmp_path / f"round_{r}.json" for r in range(3)]
    first = propose(plan, "tpe", 0, rounds[0])
    assert first["history"] == [] and [p["trial"] for p in first["proposals"]] == [0, 1]

    def scores_of(round_path: Path, trial_ids) -> list[Path]:
        paths = []
        for trial in trial_ids:
            folds, _ = train(plan, round_path, trial, tmp_path / "trials")
            paths.append(tmp_path / "trials" / f"score_{trial}.json")
            score(plan, folds, paths[-1])
        return paths

    # Scores given in any order: the history is sorted by trial.
    round_0_scores = scores_of(rounds[0], [0, 1])
    second = propose(plan, "tpe", 1, rounds[1], rounds[0], reversed(round_0_scores))
    expected = [jobs.observation_from_score(fileio.read_json(p)) for p in round_0_scores]
    assert second["history"] == expected
    assert [h["trial"] for h in expected] == [0, 1]
    assert [p["trial"] for p in second["proposals"]] == [2, 3]
    assert all(h["objective"] > 0 and h["status"] == "ok" for h in expected)
    # Round 2: round 1's history carried over, then round 1's own trials.
    round_1_scores = scores_of(rounds[1], [2, 3])
    third = propose(plan, "tpe", 2, rounds[2], rounds[1], round_1_scores)
    assert third["history"][:2] == expected
    assert [h["trial"] for h in third["history"]] == [0, 1, 2, 3]
    assert [p["trial"] for p in third["proposals"]] == [4, 5]
    # A proposal is a pure function of its inputs: the same bytes in a fresh call.
    propose(plan, "tpe", 2, tmp_path / "again.json", rounds[1], round_1_scores)
    assert (tmp_path / "again.json").read_bytes() == rounds[2].read_bytes()


# --- evaluate_study (execution.fold_jobs: per_study) -----------------------------------------


def study_files(tmp_path: Path, name: str, rounds: int) -> dict[str, list[str]]:
    return {kind: [str(tmp_path / name / f"round_{r}{suffix}.json") for r in range(rounds)]
            for kind, suffix in (("rounds", ""), ("results", "_results"),
                                 ("timings", "_timings"))}


def test_evaluate_study_writes_the_files_of_its_rounds_jobs_byte_for_byte(tmp_path):
    """One job proposes and evaluates a study's rounds in turn (per_study): each round file
    and results file is, byte for byte, what per_round's propose and evaluate_round jobs
    write, and TPE's later rounds saw the earlier ones' scores."""
    plan = branin_plan()
    rounds = plan.rounds("tpe")
    parents = [plan.round_parent("tpe", r) for r in range(len(rounds))]
    one_job = study_files(tmp_path, "study", len(rounds))
    tables = [str(tmp_path / "study" / name) for name in ("trials.csv", "timings.csv")]
    jobs.evaluate_study("tpe", plan.config["space"], plan.settings("tpe"),
                        plan.study_seed("tpe"), rounds, parents, plan.objective_name,
                        plan.objective_settings, FOLDS, None, 1, one_job["rounds"],
                        one_job["results"], one_job["timings"], plan.space.names, *tables)

    by_round = study_files(tmp_path, "rounds", len(rounds))
    for index in range(len(rounds)):
        parent = parents[index]
        propose(plan, "tpe", index, Path(by_round["rounds"][index]),
                None if parent is None else Path(by_round["rounds"][parent]),
                [] if parent is None else [Path(by_round["results"][parent])])
        jobs.evaluate_round(plan.objective_name, plan.objective_settings,
                            by_round["rounds"][index], FOLDS, None, 1,
                            by_round["results"][index], by_round["timings"][index])
    for kind in ("rounds", "results"):
        for mine, theirs in zip(one_job[kind], by_round[kind], strict=True):
            assert Path(mine).read_bytes() == Path(theirs).read_bytes(), mine
    # And summarize_study's tables, as its own job writes them from these files.
    again = [str(tmp_path / "rounds" / name) for name in ("trials.csv", "timings.csv")]
    jobs.summarize_study(plan.space.names, by_round["rounds"], by_round["results"],
                         by_round["timings"], *again)
    assert Path(tables[0]).read_bytes() == Path(again[0]).read_bytes()
    assert pd.read_csv(tables[0])["trial"].tolist() == list(range(6))
    assert len(pd.read_csv(tables[1])) == 6
    last = fileio.read_json(one_job["rounds"][-1])
    assert [h["trial"] for h in last["history"]] == [0, 1, 2, 3]
    assert all(h["objective"] is not None for h in last["history"])
    timings = fileio.read_json(one_job["timings"][0])["timings"]
    assert [(t["trial"], t["fold"]) for t in timings] == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_evaluate_study_refuses_a_round_that_follows_a_later_one(tmp_path):
    plan = branin_plan()
    files = study_files(tmp_path, "study", 2)
    with pytest.raises(ValueError, match="round 0 follows round 1"):
        jobs.evaluate_study("tpe", plan.config["space"], plan.settings("tpe"), 1,
                            [[0, 1], [2, 3]], [1, 0], plan.objective_name,
                            plan.objective_settings, FOLDS, None, 1, files["rounds"],
                            files["results"], files["timings"], plan.space.names,
                            str(tmp_path / "trials.csv"), str(tmp_path / "timings.csv"))


# --- train_folds, score_trial -------------------------------------------------------------


@pytest.fixture
def random_round(tmp_path) -> Path:
    propose(branin_plan(), "random", 0, tmp_path / "round_0.json")
    return tmp_path / "round_0.json"


def test_train_folds_writes_a_fold_record_and_a_timing_per_fold(tmp_path, random_round):
    plan = branin_plan()  # noise_std 0.5
    entry = jobs.proposal(str(random_round), 3)
    outputs, timings = train(plan, random_round, 3, tmp_path / "out")

    x, y = entry["params"]["x"], entry["params"]["y"]
    values = []
    for fold, output, timing in zip(FOLDS, outputs, timings, strict=True):
        record = fileio.read_json(output)
        seed = derive_seed(entry["seed"], "fold", fold)
        noise = 0.5 * float(np.random.default_rng(seed).standard_normal())
        assert record["trial"] == 3 and record["fold"] == fold
        assert record["seed"] == seed and record["trial_seed"] == entry["seed"]
        assert record["params"] == entry["params"] and record["status"] == "ok"
        assert jobs.trained_proposal(record) == entry  # what its score says of the trial
        assert record["metrics"]["value"] == pytest.approx(branin(x, y) + noise, rel=1e-12)
        # Times go to the timing file only: the fold record is a function of the inputs.
        assert not {"fit_seconds", "fit_cpu_seconds"} & set(record)
        # Measured, so not exact: a Branin fold takes microseconds, rounded to 0.0 on an idle
        # machine, a few milliseconds on a busy one.
        measured = fileio.read_json(timing)
        assert {key: measured[key] for key in ("trial", "fold")} == {"trial": 3, "fold": fold}
        assert set(measured) == {"trial", "fold", "fit_seconds", "fit_cpu_seconds"}
        assert 0 <= measured["fit_seconds"] < 0.5 and 0 <= measured["fit_cpu_seconds"] < 0.5
        values.append(record["metrics"]["value"])
    assert values[0] != values[1]  # each fold's noise has its own seed

    # One job per fold writes the same bytes as one job for both folds.
    alone, _ = train(plan, random_round, 3, tmp_path / "per_fold", folds=[1])
    assert alone[0].read_bytes() == outputs[1].read_bytes()
    again, _ = train(plan, random_round, 3, tmp_path / "again")
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in outputs]


def test_train_folds_without_noise_is_branin_itself(tmp_path, random_round):
    plan = branin_plan(noise_std=0.0)
    entry = jobs.proposal(str(random_round), 0)
    outputs, _ = train(plan, random_round, 0, tmp_path)
    for output in outputs:
        assert fileio.read_json(output)["metrics"]["value"] == branin(**entry["params"])


def test_a_trial_that_is_not_in_the_round_is_refused(tmp_path, random_round):
    with pytest.raises(KeyError, match="trial 6 is not proposed in"):
        train(branin_plan(), random_round, 6, tmp_path)
    assert not (tmp_path / "trial_6").exists()


def test_score_trial_averages_the_folds_in_fold_order(tmp_path, random_round):
    plan = branin_plan()
    outputs, _ = train(plan, random_round, 2, tmp_path)
    records = [fileio.read_json(p) for p in outputs]
    values = [r["metrics"]["value"] for r in records]

    result = score(plan, outputs, tmp_path / "score.json")
    assert result["trial"] == 2 and result["folds"] == 2 and result["status"] == "ok"
    assert result["params"] == records[0]["params"]
    assert result["seed"] == records[0]["trial_seed"]
    assert result["objective"] == pytest.approx(statistics.fmean(values))
    assert result["metrics"] == pytest.approx({
        "fold_0_value": values[0], "fold_1_value": values[1],
        "value_mean": statistics.fmean(values), "value_std": statistics.pstdev(values)})
    # The fold files in another order: the same score, byte for byte.
    score(plan, outputs[::-1], tmp_path / "reversed.json")
    assert (tmp_path / "reversed.json").read_bytes() == (tmp_path / "score.json").read_bytes()


def test_a_diverged_fold_makes_a_diverged_trial_without_objective(tmp_path):
    plan = branin_plan()
    paths = []
    for fold, value in enumerate([1.5, None]):
        paths.append(tmp_path / f"fold_{fold}.json")
        fileio.write_json(paths[-1], {
            "trial": 4, "fold": fold, "seed": fold, "trial_seed": 11,
            "params": {"x": 0.0, "y": 0.0}, "status": "ok" if value is not None else "diverged",
            "metrics": {"value": value}, "history": {}, "epochs_run": 0})
    result = score(plan, paths, tmp_path / "score.json")
    assert result["status"] == "diverged" and result["objective"] is None
    assert result["metrics"] == {"fold_0_value": 1.5, "fold_1_value": None}
    assert result["trial"] == 4 and result["seed"] == 11


# --- best_score ---------------------------------------------------------------------------


def test_best_score_takes_the_lowest_objective_and_on_ties_the_lowest_trial(tmp_path):
    paths = [
        write_score(tmp_path / "4.json", 4, 1.5),
        write_score(tmp_path / "2.json", 2, 0.5),
        write_score(tmp_path / "1.json", 1, 0.5),
        write_score(tmp_path / "3.json", 3, 0.5),
        write_score(tmp_path / "0.json", 0, 0.1, status="diverged"),  # lower, but not ok
        write_score(tmp_path / "5.json", 5, None, status="failed"),
    ]
    for order in itertools.permutations(paths):
        best = jobs.best_score(list(order))
        assert best["trial"] == 1 and best["objective"] == 0.5
    assert jobs.best_score([paths[0], paths[3]])["trial"] == 3  # 0.5 beats 1.5
    assert jobs.best_score(paths[4:]) is None
    assert jobs.best_score([]) is None


# --- trials_table, timings_table, summarize_study -----------------------------------------


@pytest.fixture(scope="module")
def tpe_study(tmp_path_factory):
    """A whole TPE study of Branin (3 rounds of 2 trials, 2 folds each) run job by job:
    (round files, score files, timing files, {trial: score})."""
    directory = tmp_path_factory.mktemp("tpe")
    plan = branin_plan()
    rounds, scores, timings, by_trial = [], [], [], {}
    previous: list[Path] = []
    for round_index, trial_ids in enumerate(plan.rounds("tpe")):
        rounds.append(directory / f"round_{round_index}.json")
        propose(plan, "tpe", round_index, rounds[-1], rounds[-2] if round_index else None,
                previous)
        previous = []
        for trial in trial_ids:
            folds, trial_timings = train(plan, rounds[-1], trial, directory)
            previous.append(directory / f"score_{trial}.json")
            by_trial[trial] = score(plan, folds, previous[-1])
            timings += trial_timings
        scores += previous
    return rounds, scores, timings, by_trial


def test_trials_table_has_a_row_per_trial_in_trial_order(tpe_study):
    rounds, scores, _, by_trial = tpe_study
    table = jobs.trials_table(["x", "y"], [str(p) for p in rounds],
                              [str(p) for p in scores[::-1]])
    assert list(table.columns) == ["trial", "round", "x", "y", "objective", "status",
                                   "fold_0_value", "fold_1_value", "value_mean", "value_std"]
    assert table["trial"].tolist() == list(range(6))
    assert table["round"].tolist() == [0, 0, 1, 1, 2, 2]
    for row in table.itertuples():
        expected = by_trial[row.trial]
        assert (row.x, row.y) == (expected["params"]["x"], expected["params"]["y"])
        assert row.objective == expected["objective"] and row.status == "ok"
        assert row.value_mean == expected["metrics"]["value_mean"]


def test_timings_table_sums_each_trials_folds(tmp_path):
    records = [(0, 0, 0.1234, 0.1), (0, 1, 0.2, 0.05), (1, 0, 1.0, 2.0), (2, 1, 0.0004, 0.0)]
    paths = []
    for trial, fold, seconds, cpu in records:
        paths.append(str(tmp_path / f"{trial}_{fold}.json"))
        fileio.write_json(paths[-1], {"trial": trial, "fold": fold, "fit_seconds": seconds,
                                      "fit_cpu_seconds": cpu})
    table = jobs.timings_table(paths[::-1])
    assert list(table.columns) == ["trial", "folds", "fit_seconds", "fit_cpu_seconds"]
    assert table["trial"].tolist() == [0, 1, 2]
    assert table["folds"].tolist() == [2, 1, 1]
    assert table["fit_seconds"].tolist() == [0.323, 1.0, 0.0]  # summed, then to 3 decimals
    assert table["fit_cpu_seconds"].tolist() == [0.15, 2.0, 0.0]


def test_summarize_study_writes_the_same_bytes_on_every_rerun(tpe_study, tmp_path):
    rounds, scores, timings, by_trial = tpe_study
    names = [str(p) for p in rounds], [str(p) for p in scores], [str(p) for p in timings]
    jobs.summarize_study(["x", "y"], *names, str(tmp_path / "trials.csv"),
                         str(tmp_path / "timings.csv"))
    shuffled = [list(paths) for paths in names]
    for paths in shuffled:
        random.Random(3).shuffle(paths)
    jobs.summarize_study(["x", "y"], *shuffled, str(tmp_path / "trials_again.csv"),
                         str(tmp_path / "timings_again.csv"))

    trials = (tmp_path / "trials.csv").read_bytes()
    assert trials == (tmp_path / "trials_again.csv").read_bytes()
    assert (tmp_path / "timings.csv").read_bytes() == \
        (tmp_path / "timings_again.csv").read_bytes()
    assert b"\r" not in trials and trials.endswith(b"\n")
    assert trials.splitlines()[0] == (b"trial,round,x,y,objective,status,fold_0_value,"
                                      b"fold_1_value,value_mean,value_std")
    table = pd.read_csv(tmp_path / "trials.csv")
    assert table["objective"].tolist() == pytest.approx(
        [by_trial[t]["objective"] for t in range(6)], rel=1e-15)
    timing_table = pd.read_csv(tmp_path / "timings.csv")
    assert timing_table["trial"].tolist() == list(range(6))
    assert timing_table["folds"].tolist() == [2] * 6

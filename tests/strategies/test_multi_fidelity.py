"""Multi-fidelity strategies (sha, hyperband, bohb): bracket arithmetic against Li et al.
2018, successive-halving promotions, the static plan (budgets, rounds, round parents),
BOHB's model, and their config checks. The generic conformance suite (test_strategies.py)
covers them too."""

from __future__ import annotations

import copy
import math
import random
from fractions import Fraction

import pytest

from hpstudy import fileio
from hpstudy.config import ConfigError, resolve, strategy_defaults
from hpstudy.jobs import propose_round
from hpstudy.plan import Plan
from hpstudy.space import SearchSpace
from hpstudy.strategies import Observation, make_strategy, strategy_class
from hpstudy.strategies.bohb import decode, encode
from tests.helpers.spaces import ALL_KINDS_SPACE
from tests.helpers.workdir import load_config

MULTI_FIDELITY = ["sha", "hyperband", "bohb"]
SPACE = SearchSpace.from_config(ALL_KINDS_SPACE)
SQUARE = SearchSpace.from_config({"x": {"type": "uniform", "low": 0.0, "high": 1.0},
                                  "y": {"type": "uniform", "low": 0.0, "high": 1.0}})


def settings(name: str, **overrides) -> dict:
    return {**strategy_defaults(name), "max_resource": 9, **overrides}


def strategy(name: str, seed: int = 7, space: SearchSpace = SPACE, **overrides):
    return make_strategy(name, space, settings(name, **overrides), seed)


def shape(name: str, **overrides) -> list[list[tuple[int, int]]]:
    """Per bracket: (configurations, fidelity) of each rung."""
    brackets: dict[int, list[tuple[int, int]]] = {}
    for rung in strategy_class(name).rungs(settings(name, **overrides)):
        brackets.setdefault(rung.bracket, []).append((len(rung.trials), rung.fidelity))
    return list(brackets.values())


# --- bracket arithmetic --------------------------------------------------------------------


def test_hyperband_brackets_are_the_papers_table_for_r81_eta3():
    assert shape("hyperband", max_resource=81, eta=3) == [
        [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
        [(34, 3), (11, 9), (3, 27), (1, 81)],
        [(15, 9), (5, 27), (1, 81)],
        [(8, 27), (2, 81)],
        [(5, 81)],
    ]


def test_small_brackets_by_hand():
    assert shape("hyperband", max_resource=9) == [[(9, 1), (3, 3), (1, 9)], [(5, 3), (1, 9)],
                                                  [(3, 9)]]
    # min_resource 2: s_max = floor(log3(9 / 2)) = 1; 9 / 3 = 3 epochs in the first rung.
    assert shape("hyperband", max_resource=9, min_resource=2) == [[(3, 3), (1, 9)], [(2, 9)]]
    assert shape("sha", max_resource=27) == [[(27, 1), (9, 3), (3, 9), (1, 27)]]
    assert shape("sha", max_resource=27, n_configs=30) == [[(30, 1), (10, 3), (3, 9), (1, 27)]]
    assert shape("hyperband", max_resource=5, min_resource=5) == [[(1, 5)]]
    assert shape("hyperband", max_resource=9, iterations=2) == \
        shape("hyperband", max_resource=9) * 2


def _paper(min_resource: int, max_resource: int, eta: int) -> list[list[tuple[int, int]]]:
    """Algorithm 1 of Li et al. with exact fractions, fidelities rounded half up."""
    s_max = math.floor(math.log(max_resource / min_resource, eta) + 1e-9)
    brackets = []
    for s in range(s_max, -1, -1):
        n = math.ceil(Fraction(s_max + 1, s + 1) * eta ** s)
        r = Fraction(max_resource, eta ** s)
        brackets.append([(math.floor(n / Fraction(eta) ** i),
                          max(min_resource, math.floor(r * eta ** i + Fraction(1, 2))))
                         for i in range(s + 1)])
    return brackets


@pytest.mark.parametrize("low, high, eta", [(1, 81, 3), (1, 9, 3), (2, 9, 3), (1, 27, 3),
                                            (1, 10, 3), (3, 100, 4), (1, 16, 2), (2, 50, 2),
                                            (1, 2, 3)])
def test_brackets_follow_the_papers_formulas(low, high, eta):
    found = shape("hyperband", min_resource=low, max_resource=high, eta=eta)
    assert found == _paper(low, high, eta)
    for bracket in found:
        fidelities = [fidelity for _, fidelity in bracket]
        assert fidelities[-1] == high and fidelities[0] >= low
        assert fidelities == sorted(set(fidelities))  # strictly increasing
        assert all(size >= 1 for size, _ in bracket)
    assert shape("sha", min_resource=low, max_resource=high, eta=eta) == [found[0]]


# --- the static plan -----------------------------------------------------------------------


@pytest.mark.parametrize("name", MULTI_FIDELITY)
@pytest.mark.parametrize("overrides", [{}, {"max_resource": 81}, {"min_resource": 2},
                                       {"iterations": 2, "eta": 2}])
def test_budget_is_the_sum_of_rung_sizes_and_rounds_are_the_rungs(name, overrides):
    if name == "sha":
        overrides.pop("iterations", None)
    chosen, given = strategy_class(name), settings(name, **overrides)
    budget = chosen.budget(given, SPACE)
    assert budget == sum(size for bracket in shape(name, **overrides) for size, _ in bracket)
    rounds = chosen.plan_rounds(budget, given)
    assert rounds == [list(rung.trials) for rung in chosen.rungs(given)]
    assert [t for trial_ids in rounds for t in trial_ids] == list(range(budget))
    with pytest.raises(ValueError, match="disagrees"):
        chosen.plan_rounds(budget + 1, given)


def test_round_parents():
    def parents(name, **overrides):
        chosen, given = strategy_class(name), settings(name, **overrides)
        return chosen.round_parents(chosen.plan_rounds(chosen.budget(given, SPACE), given),
                                    given)

    # Rungs: bracket 0 (3 rungs), bracket 1 (2), bracket 2 (1).
    assert parents("sha") == [None, 0, 1]
    assert parents("hyperband") == [None, 0, 1, None, 3, None]
    assert parents("hyperband", iterations=2) == [None, 0, 1, None, 3, None] + \
        [None, 6, 7, None, 9, None]
    assert parents("bohb") == [None, 0, 1, 2, 3, 4]


def test_the_plan_and_the_round_files_of_a_config(tmp_path):
    config = copy.deepcopy(load_config("cnn_tiny"))
    config["objective"]["cnn"]["epochs"] = 9
    config["strategies"] = {"sha": {}, "hyperband": {}, "bohb": {"iterations": 2}}
    plan = Plan.from_config(config)
    assert plan.settings("sha")["max_resource"] == 9  # the objective's epochs
    assert plan.budget("sha") == 13 and plan.budget("hyperband") == 22
    assert plan.budget("bohb") == 44
    assert plan.rounds("hyperband")[3] == [13, 14, 15, 16, 17]
    assert [plan.round_parent("hyperband", r) for r in range(6)] == [None, 0, 1, None, 3, None]
    assert plan.round_parent("bohb", 6) == 5
    output = tmp_path / "round_0.json"
    propose_round("hyperband", config["space"], plan.settings("hyperband"), plan.seed, 3,
                  plan.rounds("hyperband")[3], None, [], str(output))
    entries = fileio.read_json(output)["proposals"]
    assert [(e["trial"], e["fidelity"], e["bracket"], e["rung"], e["promoted_from"])
            for e in entries] == [(t, 3, 1, 0, None) for t in range(13, 18)]


# --- promotions ----------------------------------------------------------------------------

# Rung 0 of sha (R = 9): trials 0..8. 0, 3 and 8 tie; 1 diverged, 4 failed, 6 is not finite.
OBJECTIVES = {0: 0.5, 1: None, 2: 0.2, 3: 0.5, 4: None, 5: 0.9, 6: math.nan, 7: 0.6, 8: 0.5}
STATUSES = {1: "diverged", 4: "failed"}


def rung_zero(sha) -> list[Observation]:
    return [Observation(e["trial"], e["params"], OBJECTIVES[e["trial"]],
                        STATUSES.get(e["trial"], "ok")) for e in sha.proposals(range(9), [])]


def test_sha_promotes_the_best_in_rank_order_ties_by_trial_id():
    sha = strategy("sha")
    first = rung_zero(sha)
    entries = sha.proposals([9, 10, 11], first)
    # Ranking: 2 (0.2), then 0, 3, 8 (0.5, by id), 7, 5; unusable 1, 4, 6 last.
    assert [e["promoted_from"] for e in entries] == [2, 0, 3]
    for entry in entries:
        parent = entry["promoted_from"]
        assert entry["params"] == first[parent].params
        assert entry["seed"] == sha.trial_seed(parent)
        assert (entry["fidelity"], entry["bracket"], entry["rung"]) == (3, 0, 1)
    # Any subset, any order, any history order: the same entries.
    shuffled = list(first)
    random.Random(1).shuffle(shuffled)
    assert sha.proposals([11, 9], shuffled) == [entries[2], entries[0]]
    # Rung 2: trial 10 (from 0) wins; 9 (from 2) diverged with a penalty value.
    second = first + [Observation(9, entries[0]["params"], 1e6, "diverged"),
                      Observation(10, entries[1]["params"], 0.4),
                      Observation(11, entries[2]["params"], 0.45)]
    [last] = sha.proposals([12], second)
    assert last["promoted_from"] == 10 and last["params"] == first[0].params
    assert last["seed"] == sha.trial_seed(0)  # the seed of the configuration's first trial
    assert (last["fidelity"], last["rung"]) == (9, 2)


def test_unusable_trials_are_promoted_last_by_trial_id():
    sha = strategy("sha")
    failed = [Observation(o.trial, o.params, None if o.trial != 5 else 0.3,
                          "ok" if o.trial == 5 else "failed") for o in rung_zero(sha)]
    assert [e["promoted_from"] for e in sha.proposals([9, 10, 11], failed)] == [5, 0, 1]


def test_a_promotion_without_the_rung_below_is_an_error():
    sha = strategy("sha")
    with pytest.raises(ValueError, match="only 2 of them are in the history"):
        sha.proposals([9, 10, 11], rung_zero(sha)[:2])
    with pytest.raises(ValueError, match="no trial 13"):
        sha.proposals([13], [])


@pytest.mark.parametrize("name", MULTI_FIDELITY)
def test_new_configurations_are_random_per_trial_inside_the_space(name):
    chosen = strategy(name)
    entries = chosen.proposals(list(range(9)), [])
    assert len({tuple(e["params"].values()) for e in entries}) == 9
    for entry in entries:
        assert SPACE.contains(entry["params"])
        assert entry["seed"] == chosen.trial_seed(entry["trial"])
        assert (entry["fidelity"], entry["rung"], entry["promoted_from"]) == (1, 0, None)
    assert chosen.proposals([4, 2], []) == [entries[4], entries[2]]
    assert strategy(name).proposals(list(range(9)), []) == entries
    assert strategy(name, seed=8).proposals([0], [])[0]["params"] != entries[0]["params"]


# --- whole studies: rounds along their parents, as the workflow runs them -------------------


def toy(params: dict, fidelity: int) -> tuple[float | None, str]:
    if params["learning_rate"] > 0.05 and params["optimizer"] == "sgd":
        return None, "diverged"
    value = ((math.log10(params["learning_rate"]) + 2.0) ** 2 + (params["dropout"] - 0.2) ** 2
             + {"sgd": 0.5, "adam": 0.0, "rmsprop": 0.3}[params["optimizer"]])
    return value + 1.0 / fidelity, "ok"


def run_study(name: str, seed: int = 3, **overrides) -> list[list[dict]]:
    """Every round's entries; a round's history: its parent's history and scores."""
    chosen, given = strategy_class(name), settings(name, **overrides)
    rounds = chosen.plan_rounds(chosen.budget(given, SPACE), given)
    parents = chosen.round_parents(rounds, given)
    instance = make_strategy(name, SPACE, given, seed)
    histories, scores, entries = [], [], []
    for index, trial_ids in enumerate(rounds):
        parent = parents[index]
        history = [] if parent is None else histories[parent] + scores[parent]
        proposed = instance.proposals(trial_ids, history)
        histories.append(history)
        scores.append([Observation(e["trial"], e["params"], *toy(e["params"], e["fidelity"]))
                       for e in proposed])
        entries.append(proposed)
    return entries


@pytest.mark.parametrize("name", MULTI_FIDELITY)
def test_whole_studies_stay_in_the_space_and_promote_consistently(name):
    overrides = {"max_resource": 27} if name == "sha" else {"max_resource": 27, "iterations": 2}
    entries = run_study(name, **overrides)
    by_trial = {e["trial"]: e for rung in entries for e in rung}
    assert sorted(by_trial) == list(range(len(by_trial)))
    for entry in by_trial.values():
        assert SPACE.contains(entry["params"])
        if entry["promoted_from"] is not None:
            parent = by_trial[entry["promoted_from"]]
            assert (parent["params"], parent["seed"]) == (entry["params"], entry["seed"])
            assert parent["rung"] == entry["rung"] - 1 and parent["bracket"] == entry["bracket"]
            assert parent["fidelity"] < entry["fidelity"]
    assert run_study(name, **overrides) == entries  # deterministic
    assert run_study(name, seed=4, **overrides) != entries


# --- BOHB's model --------------------------------------------------------------------------

TARGET = (0.2, 0.8)


def distance(params: dict) -> float:
    return math.dist((params["x"], params["y"]), TARGET)


def square_history(count: int, start: int = 0, seed: int = 0) -> list[Observation]:
    """count finished trials with ids from `start`, at random points of SQUARE, scored by
    their distance to TARGET."""
    points = make_strategy("hyperband", SQUARE, settings("hyperband", max_resource=27),
                           seed).propose(list(range(count)), [])
    return [Observation(start + k, p, distance(p)) for k, p in enumerate(points)]


def bohb(seed: int = 7, **overrides):
    return strategy("bohb", seed=seed, space=SQUARE, max_resource=27, **overrides)


# R = 27: bracket 0 is 27 trials at 1 epoch (0..26), 9 at 3 (27..35), 3 at 9, 1 at 27;
# bracket 1 starts with 12 new configurations at 3 epochs: trials 40..51.
NEW = list(range(40, 52))


def test_bohb_without_enough_points_is_random():
    # 5 usable trials at 1 epoch: 3 good (parameters + 1), only 2 bad: no model.
    few = square_history(5)
    assert bohb().model(few) is None
    assert bohb().propose(NEW, few) == bohb(random_fraction=1.0).propose(NEW, [])
    # Failed trials do not count as usable ones.
    failed = [Observation(o.trial, o.params, None, "failed") for o in square_history(27)]
    assert bohb().model(failed) is None


def test_bohb_fits_the_largest_fidelity_with_enough_points():
    history = square_history(27)
    assert bohb().model(history)[0] == 1
    assert bohb().model(history + square_history(9, start=27, seed=1))[0] == 3
    assert bohb().model(history + square_history(5, start=27, seed=1))[0] == 1  # 3 good, 2 bad


def test_bohb_proposals_follow_the_good_region():
    history = square_history(27)
    modelled = [p for seed in range(5) for p in bohb(seed, random_fraction=0.0).propose(NEW,
                                                                                      history)]
    randomly = [p for seed in range(5) for p in bohb(seed, random_fraction=1.0).propose(NEW,
                                                                                      history)]
    best = sorted(distance(o.params) for o in history)[:3]
    mean_model = sum(map(distance, modelled)) / len(modelled)
    mean_random = sum(map(distance, randomly)) / len(randomly)
    assert mean_model < 0.5 * mean_random, (mean_model, mean_random, best)
    # With the default random_fraction, some proposals are random and some are not.
    default = bohb().propose(NEW, history)
    random_ones = bohb(random_fraction=1.0).propose(NEW, history)
    same = sum(a == b for a, b in zip(default, random_ones, strict=True))
    assert 0 < same < len(NEW)


def test_bohb_model_proposals_stay_in_a_mixed_space():
    # 5 parameters (log scale, complement, int, choice): 27 trials at 1 epoch allow a model.
    points = strategy("hyperband", max_resource=27).propose(list(range(27)), [])
    history = [Observation(t, p, *toy(p, 1)) for t, p in enumerate(points)]
    chosen = strategy("bohb", max_resource=27, random_fraction=0.0)
    assert chosen.model(history) is not None
    proposals = chosen.propose(NEW, history)
    assert all(SPACE.contains(p) for p in proposals)
    assert len({tuple(p.values()) for p in proposals}) > 1
    assert chosen.propose(NEW, list(reversed(history))) == proposals
    for params in points + proposals:  # the unit cube's round trip keeps params
        back = decode(SPACE, encode(SPACE, params))
        for name, value in params.items():
            assert type(back[name]) is type(value)
            assert back[name] == (pytest.approx(value, rel=1e-9) if isinstance(value, float)
                                  else value)


# --- config --------------------------------------------------------------------------------


def cnn_config(**strategies) -> dict:
    config = copy.deepcopy(load_config("cnn_tiny"))  # epochs: 2
    config["strategies"] = strategies
    return config


@pytest.mark.parametrize("strategies, words", [
    ({"sha": {"min_resource": 5}}, ["strategies.sha.min_resource", "5 > max_resource 2"]),
    ({"hyperband": {"min_resource": 4, "max_resource": 3}},
     ["strategies.hyperband.min_resource", "4"]),
    ({"sha": {"max_resource": 27, "n_configs": 5}}, ["strategies.sha.n_configs", "5 < "]),
    ({"bohb": {"min_points_in_model": 2}}, ["strategies.bohb.min_points_in_model", "2 < 3"]),
    ({"hyperband": {"eta": 1}}, ["strategies.hyperband.eta", "1"]),
    ({"bohb": {"budget": 10}}, ["strategies.bohb", "budget"]),
    ({"bohb": {"random_fraction": 1.5}}, ["strategies.bohb.random_fraction", "1.5"]),
])
def test_config_errors_name_the_key(strategies, words):
    with pytest.raises(ConfigError) as caught:
        resolve(cnn_config(**strategies))
    for word in words:
        assert word in str(caught.value)


@pytest.mark.parametrize("fold_jobs", ["per_round", "per_study"])
def test_jobs_that_cannot_continue_a_promoted_trial_are_refused_by_name(fold_jobs):
    """A promoted trial trains on from its parent's checkpoint, a file of a job of its own:
    the modes that evaluate a round or a study in one job have none."""
    config = cnn_config(hyperband={"max_resource": 2}, random={"budget": 3})
    config["execution"] = {"fold_jobs": fold_jobs}
    with pytest.raises(ConfigError, match=rf"execution\.fold_jobs: {fold_jobs} cannot "
                                          r"continue strategies\.hyperband's promoted"):
        resolve(config)


def test_an_objective_without_a_fidelity_is_rejected_by_name():
    config = {"experiment": "table", "seed": 1, "cv": {"folds": 2},
              "objective": {"name": "table", "table": {"benchmark": "hpobench",
                                                       "dataset": "australian"}},
              "strategies": {"sha": {}, "random": {"budget": 3}}}
    with pytest.raises(ConfigError, match=r"strategies\.sha: trains trials at several"):
        resolve(config)


def test_max_resource_defaults_to_the_objectives_epochs():
    resolved = resolve(cnn_config(sha={}, hyperband={"max_resource": 4}, bohb={}))
    assert resolved["strategies"]["sha"]["max_resource"] == 2
    assert resolved["strategies"]["hyperband"]["max_resource"] == 4
    assert resolved["strategies"]["bohb"]["min_points_in_model"] is None

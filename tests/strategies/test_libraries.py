"""The strategies that rest on outside libraries, beyond the conformance suite
(tests/strategies/test_strategies.py runs that over every strategy, these included):

- optuna_tpe, optuna_cmaes (Optuna's samplers by ask-and-tell on an in-memory study rebuilt
  from the history) and gp_bayesopt (bayesian-optimization): a round's batch is spread by a
  constant liar, the history is rebuilt identically, and a round made from a history the
  strategy made itself is the same in a fresh process;
- scikit-optimize, archived upstream: a tripwire that fails loudly if the GP path `gp` uses
  stops working with the locked scikit-learn, and a record of the part that already broke.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings

import pytest

from hpstudy.config import ConfigError, resolve, strategy_defaults
from hpstudy.objectives.function import branin
from hpstudy.space import SearchSpace, canonical_params
from hpstudy.strategies import Observation, make_strategy
from tests.helpers.proposals import (
    MIXED,
    ONE_THREAD,
    SEED,
    SPACE,
    SPACE_CONFIG,
    assert_valid,
    history,
    key,
    settings,
    strategy,
    toy_objective,
    with_status,
)
from tests.helpers.workdir import REPO

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # skopt: repeated points

NEW = ["optuna_tpe", "optuna_cmaes", "gp_bayesopt"]
BRANIN_CONFIG = {"x": {"type": "uniform", "low": -5.0, "high": 10.0},
                 "y": {"type": "uniform", "low": 0.0, "high": 15.0}}
BRANIN_SPACE = SearchSpace.from_config(BRANIN_CONFIG)
STARTUP = {"optuna_tpe": {"n_startup_trials": 3}, "optuna_cmaes": {"n_startup_trials": 3},
           "gp_bayesopt": {"n_initial_points": 3}}


def objective_of(space: SearchSpace):
    return (lambda p: branin(p["x"], p["y"])) if space is BRANIN_SPACE else toy_objective


def own_history(name: str, space: SearchSpace, budget: int, batch: int,
                failing: frozenset[int] = frozenset(), **overrides) -> list[Observation]:
    """The history a study of this strategy makes itself, round by round (the trials in
    `failing` fail): what every later round of a real study is proposed from."""
    chosen = strategy(name, space=space, budget=budget, batch_size=batch,
                      **{**STARTUP.get(name, {}), **overrides})
    objective, past = objective_of(space), []
    for trial_ids in chosen.plan_rounds(budget, chosen.settings):
        for trial, params in zip(trial_ids, chosen.propose(trial_ids, past), strict=True):
            past.append(Observation(trial, params, None, "failed") if trial in failing
                        else Observation(trial, params, objective(params)))
    return past


# --- the constant liar: a round's points differ -----------------------------------------------


@pytest.mark.parametrize("name", NEW)
def test_a_batch_asked_with_the_liar_holds_distinct_points(name):
    past = own_history(name, BRANIN_SPACE, 10, 5)
    chosen = strategy(name, space=BRANIN_SPACE, budget=20, batch_size=5, **STARTUP[name])
    batch = chosen.propose(list(range(10, 15)), past)
    assert_valid(batch, 5, BRANIN_SPACE)
    for i, a in enumerate(batch):  # apart, not a hair apart
        for b in batch[i + 1:]:
            assert math.dist((a["x"], a["y"]), (b["x"], b["y"])) > 1e-3, batch


def recorded_optimizers(monkeypatch) -> list:
    """Every skopt.Optimizer `gp` makes from now on, in order."""
    import skopt

    made = []

    class Recorded(skopt.Optimizer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(skopt, "Optimizer", Recorded)
    return made


def test_gp_lies_to_a_gp_of_the_kernel_fitted_on_the_real_observations(monkeypatch):
    """The constant liar as Ginsbourger et al. (2010) define it: the kernel's
    hyperparameters (noise level included) are fitted once per round, on the real
    observations; each lie only adds a point to that GP's posterior."""
    import numpy as np

    past = own_history("gp", BRANIN_SPACE, 10, 5, n_initial_points=3)
    made = recorded_optimizers(monkeypatch)
    batch = strategy("gp", space=BRANIN_SPACE, budget=20, batch_size=5,
                     n_initial_points=3).propose(list(range(10, 15)), past)
    real, liar = made
    assert len(real.models) == 1  # one fit of the hyperparameters, on the 10 real points
    fitted = real.models[0]
    assert fitted.X_train_.shape[0] == 10
    # Four lies told (the last proposal is not), each refit keeping the real fit's kernel.
    assert [m.X_train_.shape[0] for m in liar.models] == [11, 12, 13, 14]
    for model in liar.models:
        # kernel_ = amplitude x Matern + white noise (zeroed in kernel_ for predictions)
        np.testing.assert_array_equal(model.kernel_.k1.theta, fitted.kernel_.k1.theta)
        assert model.noise_ == fitted.noise_ > 0
    lie = min(o.objective for o in past)
    assert liar.yi[10:] == [lie] * 4
    assert liar.Xi[10:] == [[p["x"], p["y"]] for p in batch[:4]]


def test_bayes_opt_repeats_its_suggestion_without_the_liar():
    """Why gp_bayesopt registers a lie after each suggestion: the library's suggest is the
    argmax of one GP, the same point again until something new is registered."""
    import numpy as np
    from bayes_opt import BayesianOptimization

    chosen = strategy("gp_bayesopt", space=BRANIN_SPACE)
    optimizer = BayesianOptimization(f=None, pbounds=chosen.bounds(), verbose=0,
                                     acquisition_function=chosen.acquisition(),
                                     random_state=np.random.RandomState(0))
    for observation in own_history("gp_bayesopt", BRANIN_SPACE, 10, 5):
        optimizer.register(params=chosen.to_library(observation.params),
                           target=-observation.objective)
    first, again = optimizer.suggest(), optimizer.suggest()
    assert math.dist(first.values(), again.values()) < 1e-2


# --- the space translated for hyperopt and scikit-optimize --------------------------------------


def test_hyperopt_space_builds_and_samples_inside():
    import numpy as np
    from hyperopt.pyll.stochastic import sample

    from hpstudy.strategies._hyperopt_history import hyperopt_space

    hp_space = hyperopt_space(SPACE)
    assert set(hp_space) == set(SPACE.names)
    rng = np.random.default_rng(0)
    filters, optimizers = set(), set()
    for _ in range(400):
        raw = sample(hp_space, rng=rng)
        assert 0 <= raw["optimizer"] < 3
        values = canonical_params(SPACE, raw)
        assert SPACE.contains(values), values
        filters.add(values["filters"])
        optimizers.add(values["optimizer"])
    # The widened quniform reaches both end points of the int range.
    assert {8, 64} <= filters
    assert optimizers == {"sgd", "adam", "rmsprop"}


def test_skopt_dimensions_build_and_sample_inside():
    from skopt.space import Categorical, Integer, Real, Space

    from hpstudy.strategies.gp import skopt_dimensions

    dims = skopt_dimensions(SPACE)
    assert [d.name for d in dims] == SPACE.names
    lr, momentum, dropout, filters, optimizer = dims
    assert isinstance(lr, Real) and lr.prior == "log-uniform"
    assert (lr.low, lr.high) == (1e-4, 0.1)
    # The GP searches the raw momentum: 1 - momentum, on a log scale.
    assert isinstance(momentum, Real) and momentum.prior == "log-uniform"
    assert (momentum.low, momentum.high) == (3.1623e-3, 0.31623)
    assert isinstance(dropout, Real) and dropout.prior == "uniform"
    assert isinstance(filters, Integer) and (filters.low, filters.high) == (8, 64)
    assert isinstance(optimizer, Categorical) and list(optimizer.categories) == [0, 1, 2]
    for point in Space(dims).rvs(n_samples=200, random_state=0):
        values = canonical_params(SPACE, point)
        assert SPACE.contains(values), values
        # A value fed back as history lands inside skopt's bounds again.
        raws = SPACE.to_raws(values)
        assert [raws[n] for n in SPACE.names] in Space(dims)


# --- the history rebuilt ------------------------------------------------------------------------


def test_optuna_study_holds_the_history_as_raw_values_in_trial_order():
    from optuna import distributions as od
    from optuna.trial import TrialState

    from hpstudy.strategies._optuna_history import rebuilt_study

    shuffled = list(reversed(MIXED))
    study = rebuilt_study(SPACE, shuffled, None, unusable="pruned")
    assert [t.number for t in study.trials] == list(range(8))
    for trial, observation in zip(study.trials, MIXED, strict=True):
        raw = SPACE.to_raws(observation.params)
        assert trial.params == raw
        assert trial.params["momentum"] == pytest.approx(1.0 - observation.params["momentum"])
        assert trial.params["optimizer"] == SPACE["optimizer"].choices.index(
            observation.params["optimizer"])
        if observation.usable:
            assert (trial.state, trial.value) == (TrialState.COMPLETE, observation.objective)
        else:
            assert (trial.state, trial.value) == (TrialState.PRUNED, None)
    assert study.trials[0].distributions == {
        "learning_rate": od.FloatDistribution(1e-4, 0.1, log=True),
        "momentum": od.FloatDistribution(3.1623e-3, 0.31623, log=True),
        "dropout": od.FloatDistribution(0.0, 0.5), "filters": od.IntDistribution(8, 64),
        "optimizer": od.CategoricalDistribution((0, 1, 2))}
    again = rebuilt_study(SPACE, list(MIXED), None, unusable="pruned")
    assert [(t.params, t.value, t.state) for t in again.trials] == \
        [(t.params, t.value, t.state) for t in study.trials]


def test_optuna_tpe_reads_a_failed_trial_as_ranked_after_every_complete_one():
    past = list(history(10))
    failed = list(with_status(past, {3: ("failed", None)}))
    worst = list(with_status(past, {3: ("ok", 1e9)}))
    dropped = [o for o in past if o.trial != 3]
    tpe = strategy("optuna_tpe")
    assert tpe.propose([10, 11], failed) == tpe.propose([10, 11], worst)
    assert tpe.propose([10, 11], failed) != tpe.propose([10, 11], dropped)


def test_optuna_tpe_is_multivariate_with_the_constant_liar(monkeypatch):
    import optuna

    made = []

    class Recorded(optuna.samplers.TPESampler):
        def __init__(self, **kwargs):
            made.append(kwargs)
            super().__init__(**kwargs)

    monkeypatch.setattr(optuna.samplers, "TPESampler", Recorded)
    strategy("optuna_tpe", n_startup_trials=4, n_ei_candidates=12).propose([8, 9], list(MIXED))
    assert made == [{"multivariate": True, "constant_liar": True, "n_startup_trials": 4,
                     "n_ei_candidates": 12, "seed": made[0]["seed"]}]
    assert isinstance(made[0]["seed"], int)


@pytest.mark.parametrize("batch", [1, 4])
def test_cmaes_replays_its_own_rounds_and_its_evolution_advances(batch):
    """Optuna keeps CMA-ES's state in trial attributes that a rebuilt study would not have:
    the replay must reproduce every earlier round (no replayed ask told FAIL) and carry the
    evolution on (later trials belong to later generations), failures included."""
    from optuna.trial import TrialState

    past = own_history("optuna_cmaes", BRANIN_SPACE, 24, batch, failing=frozenset({5, 13}),
                       popsize=4)
    chosen = strategy("optuna_cmaes", space=BRANIN_SPACE, budget=24, batch_size=batch,
                      popsize=4, **STARTUP["optuna_cmaes"])
    study = chosen.replayed_study(past)
    assert [t.state for t in study.trials].count(TrialState.FAIL) == 0
    assert len(study.trials) == 24
    assert study.trials[-1].system_attrs["cma:generation"] >= 3
    for trial in (5, 13):  # told the worst usable objective up to the end of its round
        round_end = trial - trial % batch + batch - 1
        assert study.trials[trial].value == max(o.objective for o in past
                                                if o.usable and o.trial <= round_end)


def test_cmaes_adds_a_history_it_did_not_make_outside_its_generations():
    from optuna.trial import TrialState

    study = strategy("optuna_cmaes").replayed_study(list(history(6)))
    states = [t.state for t in study.trials]
    assert states.count(TrialState.FAIL) == 6  # each replayed ask, told FAIL
    plain = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert [t.value for t in plain] == [o.objective for o in history(6)]
    assert all("cma:generation" not in t.system_attrs for t in plain)


@pytest.mark.parametrize("name", ["optuna_cmaes", "gp_bayesopt"])
def test_a_failed_trial_is_told_the_worst_usable_objective(name):
    past = list(history(8))
    worst = max(o.objective for o in past)
    failed = list(with_status(past, {7: ("failed", None)}))
    as_worst = list(with_status(past, {7: ("ok", worst)}))
    chosen = strategy(name, **STARTUP[name])
    assert chosen.propose([8, 9], failed) == chosen.propose([8, 9], as_worst)


# --- the same round in a fresh process -----------------------------------------------------------

_CHILD = """
import json, sys
from hpstudy.space import SearchSpace
from hpstudy.strategies import Observation, make_strategy
job = json.load(sys.stdin)
chosen = make_strategy(job["name"], SearchSpace.from_config(job["space"]), job["settings"],
                       job["seed"])
print(json.dumps(chosen.propose(job["ids"], [Observation.from_dict(r) for r in job["history"]])))
"""


@pytest.mark.parametrize("name", NEW)
def test_a_round_from_its_own_history_is_the_same_in_a_fresh_process(name):
    past = own_history(name, SPACE, 9, 3, failing=frozenset({4}))
    given = settings(name, budget=12, batch_size=3, **STARTUP[name])
    ids = [9, 10, 11]
    job = {"name": name, "space": SPACE_CONFIG, "settings": given, "seed": SEED, "ids": ids,
           "history": [o.to_dict() for o in past]}
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(REPO / "workflow"),
           "PYTHONHASHSEED": "4321"}
    result = subprocess.run([sys.executable, "-c", _CHILD], input=json.dumps(job), env=env,
                            capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""  # Optuna's INFO lines and warnings stay out of the job's log
    here = make_strategy(name, SPACE, given, SEED).propose(ids, past)
    assert json.loads(result.stdout) == json.loads(json.dumps(here))
    assert len({key(p) for p in here}) == 3


# --- settings and config checks ------------------------------------------------------------------


@pytest.mark.parametrize("acq_func", ["EI", "LCB", "PI"])
def test_gp_bayesopt_proposes_with_each_acquisition_function(acq_func):
    past = own_history("gp_bayesopt", BRANIN_SPACE, 8, 4)
    chosen = strategy("gp_bayesopt", space=BRANIN_SPACE, acq_func=acq_func, kappa=1.0,
                      **STARTUP["gp_bayesopt"])
    proposals = chosen.propose([8, 9], past)
    assert_valid(proposals, 2, BRANIN_SPACE)
    assert proposals == chosen.propose([8, 9], past)


def test_gp_bayesopt_maps_log_integer_and_choice_parameters_both_ways():
    chosen = strategy("gp_bayesopt")
    for observation in history(12):
        library = chosen.to_library(observation.params)
        assert library["learning_rate"] == pytest.approx(
            math.log(observation.params["learning_rate"]))
        assert library["optimizer"] in (0.0, 1.0, 2.0)
        back = chosen.from_library(library)
        assert {k: back[k] for k in ("filters", "optimizer")} == \
            {k: observation.params[k] for k in ("filters", "optimizer")}
        assert back["learning_rate"] == pytest.approx(observation.params["learning_rate"])
    lows = {name: low for name, (low, _high) in chosen.bounds().items()}
    highs = {name: high for name, (_low, high) in chosen.bounds().items()}
    assert SPACE.contains(chosen.from_library(lows)) and SPACE.contains(chosen.from_library(highs))
    assert chosen.from_library(highs)["filters"] == 64
    assert chosen.from_library(highs)["optimizer"] == "rmsprop"


BRANIN_STUDY = {
    "experiment": "libraries", "seed": 3, "dataset": {"name": "digits"}, "cv": {"folds": 2},
    "objective": {"name": "function"}, "space": BRANIN_CONFIG,
}


@pytest.mark.parametrize("name, setting, message", [
    ("optuna_tpe", {"n_startup_trials": 10}, "strategies.optuna_tpe.n_startup_trials: 10"),
    ("optuna_cmaes", {"n_startup_trials": 10}, "strategies.optuna_cmaes.n_startup_trials: 10"),
    ("gp_bayesopt", {"n_initial_points": 10}, "strategies.gp_bayesopt.n_initial_points: 10"),
])
def test_the_new_strategies_resolve_and_refuse_a_startup_as_long_as_the_budget(
        name, setting, message):
    resolved = resolve({**BRANIN_STUDY, "strategies": {name: {"budget": 11, **setting}}})
    assert resolved["strategies"][name] == {**strategy_defaults(name), "budget": 11, **setting}
    with pytest.raises(ConfigError, match=message):
        resolve({**BRANIN_STUDY, "strategies": {name: {"budget": 10, **setting}}})


def test_cmaes_refuses_a_space_of_choices_only():
    config = {**BRANIN_STUDY, "space": {"c": {"type": "choice", "choices": ["a", "b"]}},
              "strategies": {"optuna_cmaes": {"budget": 10}}}
    with pytest.raises(ConfigError, match="strategies.optuna_cmaes: every parameter"):
        resolve(config)


def test_optuna_proposals_warn_and_log_nothing(capfd):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name, overrides in (("optuna_tpe", {}), ("optuna_cmaes", {"with_margin": True})):
            chosen = strategy(name, **{**STARTUP.get(name, {}), **overrides})
            for past in ([], list(MIXED), list(history(8))):
                assert_valid(chosen.propose([len(past), len(past) + 1], past), 2)
    assert [str(w.message) for w in caught] == []
    assert capfd.readouterr() == ("", "")


def test_optunas_qmc_sampler_draws_the_points_of_our_sobol_strategy():
    """Why there is no optuna_qmc: QMCSampler(sobol, scrambled) walks the same scipy.stats.qmc
    scrambled Sobol sequence, mapped onto the space as `sobol` maps it; only its first trial
    differs (drawn at random) and its position in the sequence is a study attribute, which a
    study rebuilt each round would lose."""
    import optuna
    from optuna.exceptions import ExperimentalWarning

    from hpstudy.seeds import derive_seed
    from hpstudy.strategies._optuna_history import distributions, new_study, proposal

    ours = strategy("sobol").propose(list(range(16)), [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        sampler = optuna.samplers.QMCSampler(
            qmc_type="sobol", scramble=True, seed=derive_seed(SEED, "sobol", "sequence"))
    study = new_study(sampler)
    theirs = []
    for _ in range(17):
        trial = study.ask(distributions(SPACE))
        theirs.append(proposal(SPACE, trial))
        study.tell(trial, 0.0)
    for mine, optunas in zip(ours, theirs[1:], strict=True):
        assert optunas.pop("optimizer") == mine.pop("optimizer")  # approx: numbers only
        assert optunas == pytest.approx(mine, rel=1e-12)  # exp(log ...) rounds differently


# --- scikit-optimize: archived upstream, kept while its GP works ----------------------------------


def test_skopt_dummy_minimize_is_still_broken_by_the_locked_scikit_learn():
    """A marker, not a wish: scikit-learn 1.9's is_regressor(None) raises in skopt's
    Optimizer, so skopt.dummy_minimize (base_estimator None) fails for any new user; `gp`
    stays clear of it by handing the Optimizer a GP of its own (cook_estimator), and the
    note on scikit-optimize in docs/strategies.md says so. When this fails, skopt or
    scikit-learn fixed it: remove that note and this test."""
    from skopt import dummy_minimize

    try:
        dummy_minimize(lambda x: (x[0] - 0.3) ** 2, [(0.0, 1.0)], n_calls=3, random_state=0)
    except AttributeError as error:
        assert "__sklearn_tags__" in str(error), error
    else:
        pytest.fail("skopt fixed dummy_minimize under the locked scikit-learn (is_regressor "
                    "of a None estimator): remove the note that it raises "
                    "(docs/strategies.md, scikit-optimize) and this test")


@pytest.mark.parametrize("space", [BRANIN_SPACE, SPACE], ids=["continuous", "all kinds"])
@pytest.mark.parametrize("acq_func", ["EI", "LCB", "PI", "gp_hedge"])
def test_skopt_gp_path_of_gp_still_fits_a_gp_with_the_locked_scikit_learn(
        space, acq_func, monkeypatch):
    """Fails loudly, not by degrading to random search, if the parts of scikit-optimize that
    `gp` uses (cook_estimator, Optimizer with a GP, tell, ask with the constant liar) stop
    working with the scikit-learn of the lock."""
    import numpy as np
    from sklearn.gaussian_process import GaussianProcessRegressor

    made = recorded_optimizers(monkeypatch)
    objective = objective_of(space)
    points = strategy("random", space=space).propose(list(range(12)), [])
    past = [Observation(t, p, objective(p)) for t, p in enumerate(points)]
    chosen = strategy("gp", space=space, acq_func=acq_func, n_initial_points=5)
    proposals = chosen.propose([12, 13, 14], past)
    assert_valid(proposals, 3, space)
    optimizer = made[-1]
    model = optimizer.models[-1]
    assert isinstance(model, GaussianProcessRegressor)
    assert model.X_train_.shape[0] >= len(past)  # the history, and the liar's points
    told = optimizer.space.transform([[space.to_raws(o.params)[n]
                                       for n in space.names] for o in past])
    predicted = model.predict(told)
    assert np.all(np.isfinite(predicted))
    values = np.array([o.objective for o in past])
    assert np.corrcoef(predicted, values)[0, 1] > 0.9  # a fitted GP, not a flat prior
    random_like = strategy("gp", space=space, acq_func=acq_func, n_initial_points=50)
    assert random_like.propose([12, 13, 14], past) != proposals

"""Successive halving's arithmetic and promotions, shared by sha, hyperband and bohb.

No STRATEGY here: the registry skips this module. Fidelities are integers (epochs).

- s_max = floor(log_eta(max_resource / min_resource)), computed with integers.
- Bracket s starts n = ceil((s_max + 1) / (s + 1) * eta**s) configurations (SHA: its own
  n_configs); rung i of it (i = 0..s) trains n_i = floor(n / eta**i) of them to
  r_i = max_resource / eta**(s - i), rounded half up (at least min_resource; the last rung is
  max_resource exactly). Li et al. 2018 (JMLR 18(185)), Algorithm 1.
- The static plan: one round per rung; trial ids consecutive over the study, rung by rung,
  bracket by bracket (`iterations` times over the brackets s = s_max..0).
- Rung 0 draws new configurations (`new_configs`); rung i > 0 promotes the best n_i of the
  rung below: usable trials by (objective, trial id), then unusable ones by trial id. A
  promoted trial keeps its parent's params and seed; the k-th trial of a rung gets the
  k-th best of the rung below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpstudy.space import SearchSpace, canonical_params
from hpstudy.strategies.base import Observation, Strategy
from hpstudy.strategies.sobol import raw_from_unit


def max_bracket(min_resource: int, max_resource: int, eta: int) -> int:
    """s_max: the largest s with min_resource * eta**s <= max_resource."""
    s = 0
    while min_resource * eta ** (s + 1) <= max_resource:
        s += 1
    return s


def bracket_configs(s_max: int, s: int, eta: int) -> int:
    """n = ceil((s_max + 1) / (s + 1) * eta**s): the configurations bracket s starts."""
    return -(-(s_max + 1) * eta ** s // (s + 1))


def rung_fidelity(max_resource: int, eta: int, steps: int, min_resource: int) -> int:
    """max_resource / eta**steps, rounded half up, at least min_resource."""
    divisor = eta ** steps
    return max(min_resource, (2 * max_resource + divisor) // (2 * divisor))


@dataclass(frozen=True)
class Rung:
    """One rung of one bracket: one round of the plan."""

    bracket: int  # index over the whole study (iterations included)
    rung: int  # i: 0 for new configurations
    fidelity: int
    trials: tuple[int, ...]


def layout(brackets: Sequence[tuple[int, int]], min_resource: int, max_resource: int,
           eta: int) -> list[Rung]:
    """The rungs of brackets given as (n configurations, s), in execution order."""
    rungs, start = [], 0
    for bracket, (n, s) in enumerate(brackets):
        for i in range(s + 1):
            size = n // eta ** i
            rungs.append(Rung(bracket, i, rung_fidelity(max_resource, eta, s - i, min_resource),
                              tuple(range(start, start + size))))
            start += size
    return rungs


def ranking(trials: Sequence[int], past: Mapping[int, Observation]) -> list[int]:
    """Trials of a rung, best first: usable by (objective, id), then unusable by id. Trials
    not in the history (the workflow always passes them all) are left out."""
    observed = [past[t] for t in trials if t in past]
    usable = sorted((o for o in observed if o.usable), key=lambda o: (o.objective, o.trial))
    return [o.trial for o in usable] + sorted(o.trial for o in observed if not o.usable)


def random_params(space: SearchSpace, rng) -> dict[str, Any]:
    """A uniform point of the unit cube as params (log scales, complements, choice bins as
    Sobol maps them)."""
    cube = rng.random(len(space.names))
    return canonical_params(space, [raw_from_unit(parameter, float(u))
                                    for parameter, u in zip(space, cube, strict=True)])


class HalvingStrategy(Strategy):
    """Successive halving over brackets (subclasses say which). Not registered itself."""

    adaptive = True
    stochastic = True
    multi_fidelity = True

    @classmethod
    def resources(cls, settings: Mapping[str, Any]) -> tuple[int, int, int]:
        """(min_resource, max_resource, eta)."""
        if settings.get("max_resource") is None:
            raise ValueError(f"strategies.{cls.name}.max_resource is not set (config fills it "
                             f"in from the objective's fidelity, e.g. objective.cnn.epochs)")
        return settings["min_resource"], settings["max_resource"], settings["eta"]

    @classmethod
    def brackets(cls, settings: Mapping[str, Any]) -> list[tuple[int, int]]:
        """(n configurations, s) per bracket, in order: the brackets s = s_max..0,
        `iterations` times (Hyperband)."""
        low, high, eta = cls.resources(settings)
        s_max = max_bracket(low, high, eta)
        return [(bracket_configs(s_max, s, eta), s)
                for _ in range(settings["iterations"]) for s in range(s_max, -1, -1)]

    @classmethod
    def rungs(cls, settings: Mapping[str, Any]) -> list[Rung]:
        return layout(cls.brackets(settings), *cls.resources(settings))

    @classmethod
    def budget(cls, settings, space):
        return sum(len(rung.trials) for rung in cls.rungs(settings))

    @classmethod
    def plan_rounds(cls, budget, settings):
        rounds = [list(rung.trials) for rung in cls.rungs(settings)]
        if sum(map(len, rounds)) != budget:
            raise ValueError(f"{cls.name}: budget {budget} disagrees with its brackets' "
                             f"{sum(map(len, rounds))} trials")
        return rounds

    @classmethod
    def round_parents(cls, rounds, settings):
        rungs = cls.rungs(settings)
        if [list(r) for r in rounds] != [list(rung.trials) for rung in rungs]:
            raise ValueError(f"{cls.name}: rounds {rounds} are not its plan's rungs")
        return [index - 1 if rung.rung > 0 else cls.first_rung_parent(index)
                for index, rung in enumerate(rungs)]

    @classmethod
    def continued_rounds(cls, rounds, settings):
        """A promoted trial trains on from its parent's checkpoints: rung i > 0 continues
        the rung below it."""
        return [index - 1 if rung.rung > 0 else None
                for index, rung in enumerate(cls.rungs(settings))]

    @classmethod
    def first_rung_parent(cls, index: int) -> int | None:
        """The round a bracket's first rung waits for: none (brackets are independent)."""
        return None

    @classmethod
    def check(cls, settings, space):
        low, high = settings["min_resource"], settings["max_resource"]
        if high is not None and low > high:
            return [f"strategies.{cls.name}.min_resource: {low} > max_resource {high}: the "
                    f"first rung would train longer than the last; lower it"]
        return []

    def __init__(self, space, settings, study_seed):
        super().__init__(space, settings, study_seed)
        self._rungs = self.rungs(self.settings)
        self._rung_index = {t: index for index, rung in enumerate(self._rungs)
                            for t in rung.trials}

    def rung_of(self, trial: int) -> Rung:
        if trial not in self._rung_index:
            raise ValueError(f"{self.name}: no trial {trial} in its plan of "
                             f"{len(self._rung_index)} trials")
        return self._rungs[self._rung_index[trial]]

    def promoted_from(self, trial: int, past: Mapping[int, Observation]) -> int:
        """The trial of the rung below whose configuration this trial continues."""
        rung = self.rung_of(trial)
        below = self._rungs[self._rung_index[trial] - 1]
        order, position = ranking(below.trials, past), rung.trials.index(trial)
        if position >= len(order):
            raise ValueError(f"{self.name}: trial {trial} continues the number {position + 1} "
                             f"of trials {below.trials[0]}..{below.trials[-1]}, but only "
                             f"{len(order)} of them are in the history")
        return order[position]

    def config_of(self, trial: int, past: Mapping[int, Observation]) -> int:
        """The first-rung trial whose configuration this trial carries, however far it
        was promoted (its MLflow run is that configuration's)."""
        while self.rung_of(trial).rung > 0:
            trial = self.promoted_from(trial, past)
        return trial

    def new_configs(self, trial_ids: Sequence[int],
                    history: Sequence[Observation]) -> list[dict[str, Any]]:
        """Params of new configurations (rung 0): random, each from its trial's seed."""
        import numpy as np

        return [random_params(self.space, np.random.default_rng(self.trial_seed(t)))
                for t in trial_ids]

    def proposals(self, trial_ids, history):
        history = sorted(history, key=lambda o: o.trial)
        past = {o.trial: o for o in history}
        for o in history:
            self.rung_of(o.trial)  # history from another plan is an error, not ignored
        first = [t for t in trial_ids if self.rung_of(t).rung == 0]
        fresh = dict(zip(first, self.new_configs(first, history), strict=True))
        entries = []
        for trial in trial_ids:
            rung = self.rung_of(trial)
            if rung.rung == 0:
                parent, params, config, below = None, fresh[trial], trial, 0
            else:
                parent = self.promoted_from(trial, past)
                params, config = dict(past[parent].params), self.config_of(parent, past)
                below = self.rung_of(parent).fidelity
            # A promoted trial keeps its configuration's seed: its folds' seeds are the
            # ones its checkpoints were trained with.
            entries.append({"trial": trial, "seed": self.trial_seed(config), "params": params,
                            "fidelity": rung.fidelity, "from_fidelity": below,
                            "bracket": rung.bracket, "rung": rung.rung,
                            "promoted_from": parent, "config_trial": config})
        return entries

    def propose(self, trial_ids, history):
        return [entry["params"] for entry in self.proposals(trial_ids, history)]

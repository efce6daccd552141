"""Gaussian-process Bayesian optimisation with the `bayesian-optimization` package (bayes_opt),
beside `gp` (scikit-optimize, archived upstream in 2024): the same idea on a maintained
library, should a scikit-learn upgrade take scikit-optimize down.

- The library's own GP: scikit-learn's GaussianProcessRegressor, Matern 5/2 kernel,
  normalised targets, alpha 1e-6 (no fitted noise term, unlike `gp`).
- It maximises: each objective is registered negated. EI and PI are the library's with `xi`;
  LCB is its UpperConfidenceBound with `kappa` on the negated objective (mean - kappa * sd of
  the objective), as scikit-optimize's LCB.
- Every parameter is a float to the library (its stable path: L-BFGS-B from the best of
  10,000 random points over a box). Log parameters are searched in log space (log(low)..
  log(high), exp on the way back); integers over [low - 0.5, high + 0.5], rounded; choices by
  their index over [-0.5, n - 0.5], rounded. The GP then treats a choice's indices as ordered
  (neighbours alike), a weaker model than `gp`'s one-hot. The library's own integer and
  categorical parameters exist but it calls them experimental, and their optimiser
  (differential evolution) took 3x as long per suggestion here.
- A round of several trials: the library suggests one point per call from the GP of what is
  registered, so asking again on the same observations gives the same point (to 1e-4, tested).
  Each suggestion is registered at once with a lie, the best target so far (the constant
  liar, as `gp`'s cl_min), before the next is asked: the GP then sees it as known, and its
  acquisition there is near zero. (The library's ConstantLiar acquisition does the same on a
  copy of the space, but keeps its lies between calls: state a rebuilt round cannot have.)
- Failed or diverged trials are registered as the worst usable objective (gp.failure_penalty).
- The first `n_initial_points` trials (by id), and any trial before a first observation, are
  random points of the library's space, each seeded by its own trial: as random search.
- One random state per round, keyed by the round's first trial; one thread (scikit-learn's GP
  fits in the calling thread).
"""

from __future__ import annotations

import math

from hpstudy.seeds import derive_seed
from hpstudy.space import canonical_params
from hpstudy.strategies.base import Strategy
from hpstudy.strategies.gp import failure_penalty, unchecked_sklearn


class BayesOptGP(Strategy):
    name = "gp_bayesopt"
    label = "GP (bayesian-optimization)"
    method = "GP"
    adaptive = True
    colour = "tab:olive"
    imports = ("bayes_opt", "hpstudy.strategies.gp_bayesopt")

    @classmethod
    def check(cls, settings, space):
        if settings["n_initial_points"] >= settings["budget"]:
            return [f"strategies.{cls.name}.n_initial_points: {settings['n_initial_points']} "
                    f">= budget {settings['budget']}: the GP would never be used; lower it"]
        return []

    def bounds(self) -> dict:
        """The library's pbounds: one float interval per parameter, in the space's order."""
        found = {}
        for p in self.space:
            if p.kind == "loguniform":
                found[p.name] = (math.log(p.low), math.log(p.high))
            elif p.kind == "uniform":
                found[p.name] = (float(p.low), float(p.high))
            elif p.kind == "int":
                # Half a step past each end: both end values as likely as the rest.
                found[p.name] = (p.low - 0.5, p.high + 0.5)
            else:
                found[p.name] = (-0.5, len(p.choices) - 0.5)
        return found

    def to_library(self, params) -> dict:
        """Objective values -> the library's floats (integers and indices exact)."""
        raw = self.space.to_raws(params)
        return {p.name: math.log(raw[p.name]) if p.is_log else float(raw[p.name])
                for p in self.space}

    def from_library(self, point) -> dict:
        """The library's floats -> objective values, clipped into the space: exp(log(high))
        can land one ulp past high, and a rounded end point half a step past the last."""
        raw = {}
        for p in self.space:
            x = float(point[p.name])
            if p.is_log:
                raw[p.name] = min(max(math.exp(x), p.low), p.high)
            elif p.kind == "uniform":
                raw[p.name] = min(max(x, p.low), p.high)
            elif p.kind == "int":
                raw[p.name] = int(min(max(round(x), p.low), p.high))
            else:
                raw[p.name] = int(min(max(round(x), 0), len(p.choices) - 1))
        return canonical_params(self.space, raw)

    def acquisition(self):
        from bayes_opt import acquisition

        chosen = self.settings["acq_func"]
        if chosen == "EI":
            return acquisition.ExpectedImprovement(xi=self.settings["xi"])
        if chosen == "PI":
            return acquisition.ProbabilityOfImprovement(xi=self.settings["xi"])
        return acquisition.UpperConfidenceBound(kappa=self.settings["kappa"])

    def propose(self, trial_ids, history):
        import numpy as np
        from bayes_opt import BayesianOptimization

        if not trial_ids:
            return []
        seed = derive_seed(self.study_seed, self.name, "round", min(trial_ids))
        optimizer = BayesianOptimization(
            f=None, pbounds=self.bounds(), acquisition_function=self.acquisition(),
            random_state=np.random.RandomState(seed), verbose=0,
            # A repeated point is legal here (noisy objectives; rounded integers and choices).
            allow_duplicate_points=True)
        penalty = failure_penalty(history)
        for observation in sorted(history, key=lambda o: o.trial):
            value = float(observation.objective) if observation.usable else penalty
            optimizer.register(params=self.to_library(observation.params), target=-value)
        with unchecked_sklearn():
            return self._suggest(optimizer, trial_ids, bool(history))

    def _suggest(self, optimizer, trial_ids, observed: bool) -> list[dict]:
        """The round's proposals from an optimizer holding the history (the constant liar)."""
        import numpy as np

        proposals = []
        for trial in trial_ids:
            if trial < self.settings["n_initial_points"] or not observed:
                point = optimizer.space.array_to_params(optimizer.space.random_sample(
                    random_state=np.random.RandomState(self.trial_seed(trial))))
            else:
                point = optimizer.suggest()
            proposals.append(self.from_library(point))
            if observed:  # the constant liar: the best target so far, at the proposed point
                optimizer.register(params=self.to_library(proposals[-1]),
                                   target=float(optimizer.space.target.max()))
        return proposals


STRATEGY = BayesOptGP

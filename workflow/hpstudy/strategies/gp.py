"""Gaussian-process Bayesian optimisation with scikit-optimize's ask/tell Optimizer.

- Noise: the GP has a white-noise kernel term (skopt's noise="gaussian"), fitted with the
  other hyperparameters, because cross-validated scores are noisy.
- Log-scale parameters use skopt's log-uniform prior, so the GP works in log space.
- A round of several trials is asked at once with the constant liar (cl_min).
- Failed or diverged trials are told as FAILURE_PENALTY: the worst usable objective seen so
  far (or 0.0 if none is usable yet), so the GP learns that region is bad without a value
  that would wreck its scale. They are never dropped, so the point is not proposed again.
"""

from __future__ import annotations

from typing import Any

from hpstudy.seeds import derive_seed
from hpstudy.space import SearchSpace, canonical_params
from hpstudy.strategies.base import Strategy


def skopt_dimensions(space: SearchSpace) -> list[Any]:
    """The space as scikit-optimize's dimensions of the raw values, in the space's order:
    choices as a Categorical over their indices (as for Optuna: strategies._optuna_history)."""
    from skopt.space import Categorical, Integer, Real

    dimensions = []
    for p in space:
        if p.kind == "loguniform":
            dimensions.append(Real(p.low, p.high, prior="log-uniform", name=p.name))
        elif p.kind == "uniform":
            dimensions.append(Real(p.low, p.high, prior="uniform", name=p.name))
        elif p.kind == "int":
            dimensions.append(Integer(int(p.low), int(p.high), name=p.name))
        else:
            dimensions.append(Categorical(list(range(len(p.choices))), name=p.name))
    return dimensions


def failure_penalty(history) -> float:
    usable = [o.objective for o in history if o.usable]
    return max(usable) if usable else 0.0


class GaussianProcessBO(Strategy):
    name = "gp"
    label = "GP (scikit-optimize)"
    method = "GP"
    adaptive = True
    colour = "tab:green"
    imports = ("skopt", "hpstudy.strategies.gp")

    @classmethod
    def check(cls, settings, space):
        if settings["n_initial_points"] >= settings["budget"]:
            return [f"strategies.gp.n_initial_points: {settings['n_initial_points']} >= "
                    f"budget {settings['budget']}: the GP would never be used; lower it"]
        return []

    def propose(self, trial_ids, history):
        import numpy as np
        from skopt import Optimizer
        from skopt.utils import cook_estimator

        if not trial_ids:
            return []
        dimensions = skopt_dimensions(self.space)
        # One seed per round, keyed by the round's first trial: same history + same ids ->
        # same proposals, in any process.
        seed = derive_seed(self.study_seed, self.name, "round", min(trial_ids))
        estimator = cook_estimator("GP", space=dimensions, random_state=seed, noise="gaussian")
        optimizer = Optimizer(
            dimensions,
            base_estimator=estimator,
            n_initial_points=self.settings["n_initial_points"],
            initial_point_generator="random",
            acq_func=self.settings["acq_func"],
            acq_optimizer="auto",
            acq_func_kwargs={"xi": self.settings["xi"], "kappa": self.settings["kappa"]},
            random_state=seed,
        )
        if history:
            penalty = failure_penalty(history)
            ordered = sorted(history, key=lambda o: o.trial)
            points = [[self.space.to_raws(o.params)[n] for n in self.space.names]
                      for o in ordered]
            values = [float(o.objective) if o.usable else penalty for o in ordered]
            optimizer.tell(points, values)
        asked = optimizer.ask(n_points=len(trial_ids), strategy="cl_min") \
            if len(trial_ids) > 1 else [optimizer.ask()]
        return [canonical_params(self.space, [np.asarray(v).item() for v in point])
                for point in asked]


STRATEGY = GaussianProcessBO

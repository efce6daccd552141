"""Gaussian-process Bayesian optimisation with scikit-optimize's ask/tell Optimizer.

- Noise: the GP has a white-noise kernel term (skopt's noise="gaussian"), fitted with the
  other hyperparameters, because cross-validated scores are noisy.
- Log-scale parameters use skopt's log-uniform prior, so the GP works in log space.
- A round of several trials is asked at once with the constant liar (cl_min: each proposal is
  told to the GP as the best objective so far before the next is asked) as Ginsbourger, Le
  Riche and Carraro (2010) define it: the kernel's hyperparameters are fitted once per round,
  on the real observations, and kept for the lies. (scikit-optimize's own `ask(n_points,
  "cl_min")` refits them for every lie: 12 fits per round of 10, 60 % of a round's CPU.)
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


def unchecked_sklearn():
    """scikit-learn without its per-call input and parameter checks: a proposal predicts
    with its GP ~1,000 times per point while optimising the acquisition, and at 50 points
    the checks (finiteness, dataframe detection, parameter constraints) took a quarter to a
    third of that time. The inputs are the optimiser's own finite arrays; same numbers."""
    import sklearn

    return sklearn.config_context(assume_finite=True, skip_parameter_validation=True)


def failure_penalty(history) -> float:
    usable = [o.objective for o in history if o.usable]
    return max(usable) if usable else 0.0


def constant_liar(optimizer, dimensions, n_points: int) -> list:
    """n_points proposals of a fitted `optimizer`: its own next point, then each next one
    from a GP of the same kernel hyperparameters told every earlier proposal at the lie, the
    minimum objective so far (cl_min). Only the posterior changes between proposals, so the
    lies cost a Cholesky each instead of a hyperparameter fit."""
    import numpy as np
    from sklearn.base import clone
    from skopt import Optimizer
    from skopt.learning.gaussian_process.gpr import _param_for_white_kernel_in_Sum
    from skopt.learning.gaussian_process.kernels import WhiteKernel

    fitted = optimizer.models[-1]
    kernel = clone(fitted.kernel_)
    # skopt zeroes the fitted noise term in kernel_ (for noise-free predictions) and keeps
    # its level in noise_: put it back, or the lies' GP would interpolate noisy scores.
    white_present, white_param = _param_for_white_kernel_in_Sum(kernel)
    if white_present and fitted.noise_ is not None:
        kernel.set_params(**{white_param: WhiteKernel(noise_level=fitted.noise_)})
    fixed = clone(fitted).set_params(kernel=kernel, optimizer=None, n_restarts_optimizer=0)
    liar = Optimizer(
        dimensions, base_estimator=fixed, n_initial_points=0,
        acq_func=optimizer.acq_func, acq_optimizer=optimizer.acq_optimizer,
        acq_func_kwargs=optimizer.acq_func_kwargs,
        # As scikit-optimize seeds its copy for the lies: from the optimizer's own stream.
        random_state=optimizer.rng.randint(0, np.iinfo(np.int32).max))
    asked = [optimizer.ask()]
    lie = float(np.min(optimizer.yi))
    liar.tell(list(optimizer.Xi) + asked, list(optimizer.yi) + [lie])
    while len(asked) < n_points:
        asked.append(liar.ask())
        if len(asked) < n_points:
            liar.tell(asked[-1], lie)
    return asked


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
        with unchecked_sklearn():
            if history:
                penalty = failure_penalty(history)
                ordered = sorted(history, key=lambda o: o.trial)
                points = [[self.space.to_raws(o.params)[n] for n in self.space.names]
                          for o in ordered]
                values = [float(o.objective) if o.usable else penalty for o in ordered]
                optimizer.tell(points, values)
            if len(trial_ids) == 1:
                asked = [optimizer.ask()]
            elif optimizer.models:
                asked = constant_liar(optimizer, dimensions, len(trial_ids))
            else:  # still in the random start-up phase: no GP to lie to
                asked = optimizer.ask(n_points=len(trial_ids), strategy="cl_min")
        return [canonical_params(self.space, [np.asarray(v).item() for v in point])
                for point in asked]


STRATEGY = GaussianProcessBO

"""CMA-ES (Optuna's CmaEsSampler, on the `cmaes` package) through ask-and-tell, in rounds.

CMA-ES is the one sampler here whose state is more than its trials: Optuna keeps the evolution
(mean, covariance, step size, generation) pickled in the trials' system attributes, and tells
a generation only once `popsize` of its own trials are complete. A study rebuilt from the
params and objectives alone would restart CMA-ES from its initial distribution every round.
So the study is rebuilt by *replay*: round by round in the order the study ran them, each
earlier round is asked again with that round's seed (reproducing what it proposed, Optuna's
state included), and each asked trial is told the objective its trial got. Proposals are a
pure function of the history, as for every strategy; a replayed round costs one ask per trial.

- A history trial the replay does not reproduce (a history from another strategy, or after a
  change of Optuna) is added as a plain complete trial: it counts towards n_startup_trials
  but belongs to no CMA-ES generation; the replayed ask is told FAIL and is ignored.
- Failed and diverged trials are told the worst usable objective of the rounds up to theirs
  (0.0 before any): CMA-ES ranks them last. Optuna's CMA-ES ignores FAIL trials (and PRUNED
  ones without intermediate values), so their region would not count as bad and their
  generation would wait for other trials.
- Choice parameters are drawn at random (Optuna's independent sampler): CMA-ES has no model
  of categories. A space of choices only is refused (it would be random search).
- A round is asked without telling, so its trials belong to the current generation; a
  generation is told as soon as popsize of its trials are complete, at the next ask.
"""

from __future__ import annotations

import warnings

from hpstudy.seeds import derive_seed
from hpstudy.strategies.base import Strategy
from hpstudy.strategies.gp import failure_penalty


class OptunaCMAES(Strategy):
    name = "optuna_cmaes"
    label = "CMA-ES (Optuna)"
    adaptive = True
    colour = "tab:purple"
    imports = ("optuna", "cmaes", "hpstudy.strategies.optuna_cmaes")

    @classmethod
    def check(cls, settings, space):
        problems = []
        if settings["n_startup_trials"] >= settings["budget"]:
            problems.append(
                f"strategies.{cls.name}.n_startup_trials: {settings['n_startup_trials']} >= "
                f"budget {settings['budget']}: CMA-ES would never be used; lower it")
        if all(p.kind == "choice" for p in space):
            problems.append(
                f"strategies.{cls.name}: every parameter of the space is a choice; CMA-ES "
                "models numeric parameters only and would be random search: use random or tpe")
        return problems

    def sampler(self, first_trial: int):
        """The sampler of the round that starts at `first_trial` (live and in replay)."""
        from optuna.exceptions import ExperimentalWarning
        from optuna.samplers import CmaEsSampler

        with warnings.catch_warnings():
            # with_margin is experimental in Optuna: chosen in config, known.
            warnings.simplefilter("ignore", ExperimentalWarning)
            return CmaEsSampler(
                n_startup_trials=self.settings["n_startup_trials"],
                popsize=self.settings["popsize"],
                with_margin=self.settings["with_margin"],
                # Choices are sampled independently by design: no warning per trial.
                warn_independent_sampling=False,
                seed=derive_seed(self.study_seed, self.name, "round", first_trial),
            )

    def replayed_study(self, history):
        """A study holding the history, each earlier round replayed as it ran."""
        from optuna.trial import TrialState

        from hpstudy.strategies import _optuna_history as oh

        study = oh.new_study(self.sampler(0))
        if not history:
            return study
        by_id = {o.trial: o for o in history}
        dists = oh.distributions(self.space)
        budget = max(self.settings["budget"], max(by_id) + 1)
        told = []
        for trial_ids in self.plan_rounds(budget, self.settings):
            if not any(t in by_id for t in trial_ids):
                continue
            study.sampler = self.sampler(trial_ids[0])
            asked = oh.ask_round(study, self.space, len(trial_ids))
            finished = [by_id[t] for t in trial_ids if t in by_id]
            # A round's failures are told with the worst usable objective known once the
            # round is scored: a function of the rounds up to this one, as when it ran.
            penalty = failure_penalty(told + finished)
            for trial, trial_id in zip(asked, trial_ids, strict=True):
                observation = by_id.get(trial_id)
                if observation is None or oh.proposal(self.space, trial) != \
                        dict(observation.params):
                    study.tell(trial, state=TrialState.FAIL)
                    if observation is not None:
                        study.add_trial(oh.finished_trial(self.space, dists, observation,
                                                          "penalty", penalty))
                    continue
                value = float(observation.objective if observation.usable else penalty)
                study.tell(trial, value)
            told += finished
        return study

    def propose(self, trial_ids, history):
        from hpstudy.strategies import _optuna_history as oh

        if not trial_ids:
            return []
        oh.quiet_optuna()
        study = self.replayed_study(history)
        study.sampler = self.sampler(min(trial_ids))
        asked = oh.ask_round(study, self.space, len(trial_ids))
        return [oh.proposal(self.space, trial) for trial in asked]


STRATEGY = OptunaCMAES

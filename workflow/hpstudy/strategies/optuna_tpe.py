"""TPE (Optuna): multivariate TPESampler through ask-and-tell, in rounds.

Beside hyperopt's TPE (`tpe`) so that a study can answer "which implementation?": Optuna's is
multivariate (one joint Parzen estimator over all parameters, not one per parameter) and asks
a round's trials with the constant liar (each later ask of the round sees the earlier ones as
RUNNING trials, which TPE puts in the bad group), where hyperopt proposes each trial alone.

- The study is rebuilt from the history in every round (hpstudy.strategies._optuna_history);
  TPE keeps no state beyond its trials, so the same history gives the same study.
- Failed and diverged trials are added as PRUNED: Optuna's TPE counts them towards
  n_startup_trials and ranks them after every complete trial (into the bad group unless the
  good group needs more trials than there are complete ones), hyperopt's treatment of a
  trial without a loss. As FAIL they would be ignored: their region could come again.
- One sampler seed per round, keyed by the round's first trial (as `gp`): same history and
  same ids give the same proposals in any process.
"""

from __future__ import annotations

from hpstudy.seeds import derive_seed
from hpstudy.strategies.base import Strategy


class OptunaTPE(Strategy):
    name = "optuna_tpe"
    label = "TPE (Optuna)"
    method = "TPE"
    adaptive = True
    colour = "tab:brown"
    imports = ("optuna", "hpstudy.strategies.optuna_tpe")

    @classmethod
    def check(cls, settings, space):
        if settings["n_startup_trials"] >= settings["budget"]:
            return [f"strategies.{cls.name}.n_startup_trials: {settings['n_startup_trials']} "
                    f">= budget {settings['budget']}: TPE would be random search throughout; "
                    "lower it"]
        return []

    def propose(self, trial_ids, history):
        from optuna.samplers import TPESampler

        from hpstudy.strategies import _optuna_history as optuna_history

        if not trial_ids:
            return []
        optuna_history.quiet_optuna()
        sampler = TPESampler(
            multivariate=True,
            constant_liar=True,
            n_startup_trials=self.settings["n_startup_trials"],
            n_ei_candidates=self.settings["n_ei_candidates"],
            seed=derive_seed(self.study_seed, self.name, "round", min(trial_ids)),
        )
        study = optuna_history.rebuilt_study(self.space, history, sampler, unusable="pruned")
        asked = optuna_history.ask_round(study, self.space, len(trial_ids))
        return [optuna_history.proposal(self.space, trial) for trial in asked]


STRATEGY = OptunaTPE

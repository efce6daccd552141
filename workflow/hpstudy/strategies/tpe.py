"""TPE: hyperopt's tpe.suggest on a Trials object rebuilt from the history."""

from functools import partial

from hpstudy.strategies._hyperopt_history import suggest_each
from hpstudy.strategies.base import Strategy


class TreeParzenEstimator(Strategy):
    name = "tpe"
    label = "TPE (hyperopt)"
    method = "TPE"
    adaptive = True
    colour = "tab:orange"
    imports = ("hyperopt", "hpstudy.strategies.tpe")

    @classmethod
    def check(cls, settings, space):
        if settings["n_startup_jobs"] >= settings["budget"]:
            return [f"strategies.tpe.n_startup_jobs: {settings['n_startup_jobs']} >= budget "
                    f"{settings['budget']}: TPE would be random search throughout; lower it"]
        return []

    def propose(self, trial_ids, history):
        from hyperopt import tpe

        suggest = partial(
            tpe.suggest,
            n_startup_jobs=self.settings["n_startup_jobs"],
            gamma=self.settings["gamma"],
            n_EI_candidates=self.settings["n_EI_candidates"],
        )
        return suggest_each(self.space, history, trial_ids, self.trial_seed, suggest)


STRATEGY = TreeParzenEstimator

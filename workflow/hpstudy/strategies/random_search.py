"""Random search: hyperopt's random sampler over the same space definition TPE uses."""

from hpstudy.strategies._hyperopt_history import suggest_each
from hpstudy.strategies.base import Strategy


class RandomSearch(Strategy):
    name = "random"
    label = "random search"
    adaptive = False
    baseline = True
    colour = "tab:blue"
    imports = ("hyperopt",)

    def propose(self, trial_ids, history):
        from hyperopt import rand

        # History is ignored by design: random search's proposals depend on the seed alone.
        return suggest_each(self.space, [], trial_ids, self.trial_seed, rand.suggest)


STRATEGY = RandomSearch

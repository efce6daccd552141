"""Grid search: the cartesian product of the per-parameter grid points, in a stable order."""

from hpstudy.strategies.base import Strategy


class GridSearch(Strategy):
    name = "grid"
    label = "grid search"
    adaptive = False
    stochastic = False  # the same points whatever the seed: nothing to repeat
    colour = "tab:gray"

    @classmethod
    def budget(cls, settings, space):
        return space.grid_size()

    @classmethod
    def check(cls, settings, space):
        size, budget = space.grid_size(), settings.get("budget")
        if budget is not None and budget != size:
            return [f"strategies.grid.budget: {budget} disagrees with the grid's size {size} "
                    f"(product of the space's grid points); remove it or set {size}"]
        return []

    def propose(self, trial_ids, history):
        points = self.space.grid()
        outside = [t for t in trial_ids if not 0 <= t < len(points)]
        if outside:
            raise ValueError(f"grid has {len(points)} points; no trial id(s) {outside}")
        return [dict(points[t]) for t in trial_ids]


STRATEGY = GridSearch

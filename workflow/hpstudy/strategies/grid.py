"""Grid search: the cartesian product of the per-parameter grid points, in a stable order."""

from hpstudy.strategies.base import Strategy


class GridSearch(Strategy):
    name = "grid"
    adaptive = False

    def propose(self, trial_ids, history):
        points = self.space.grid()
        outside = [t for t in trial_ids if not 0 <= t < len(points)]
        if outside:
            raise ValueError(f"grid has {len(points)} points; no trial id(s) {outside}")
        return [dict(points[t]) for t in trial_ids]


STRATEGY = GridSearch

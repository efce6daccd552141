"""The plan (Plan): what follows from a validated config. The studies (one per strategy, plus
repeats with other seeds), their budgets and rounds, seeds, hashes and each kind of job's
resources. The Snakefile, the jobs, the tests and the benchmarks ask it; nobody recomputes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from hpstudy.config import ConfigError, config_hash, resolve
from hpstudy.data import REGRESSION, task_of
from hpstudy.objectives import Objective, objective_class
from hpstudy.seeds import derive_seed
from hpstudy.space import SearchSpace
from hpstudy.strategies import strategy_class


@dataclass(frozen=True)
class Plan:
    """A validated config and what follows from it: strategies, budgets, rounds."""

    config: dict[str, Any]

    @classmethod
    def from_config(cls, config: Mapping[str, Any],
                    command_line: Mapping[str, Any] | None = None) -> Plan:
        """command_line: the values `snakemake --config` gave (config.command_line_values)."""
        return cls(resolve(config, command_line))

    @property
    def results_config(self) -> dict[str, Any]:
        """The config the results depend on (the report's setup): not how jobs run (a
        change there reruns nothing) nor the tracking URI (it may carry credentials)."""
        return {key: value for key, value in self.config.items()
                if key not in ("execution", "tracking")}

    @cached_property
    def space(self) -> SearchSpace:
        return SearchSpace.from_config(self.config["space"])

    @property
    def strategies(self) -> list[str]:
        return list(self.config["strategies"])

    @property
    def folds(self) -> int:
        return self.config["cv"]["folds"]

    @property
    def seed(self) -> int:
        return self.config["seed"]

    @property
    def objective_name(self) -> str:
        return self.config["objective"]["name"]

    @property
    def objective_settings(self) -> dict[str, Any]:
        return self.config["objective"][self.objective_name]

    @property
    def fold_jobs(self) -> str:
        return self.config["execution"]["fold_jobs"]

    @property
    def group(self) -> str:
        return self.config["execution"]["group"]

    @property
    def warm_start(self) -> bool:
        return self.config["execution"]["warm_start"]

    def resources(self, kind: str) -> dict[str, int]:
        """Cluster resources of one kind of job (execution.resources.<kind>): runtime in
        minutes, mem_mb, threads and gpu. Threads and GPUs of training jobs come from the
        objective (e.g. objective.cnn.threads and .device): TensorFlow's thread count changes
        the numbers in the last bits, so it is part of what a result depends on. Every other
        job is single-threaded on purpose: more BLAS threads in a GP proposal would change
        its floats too."""
        resources = dict(self.config["execution"]["resources"][kind])
        trains = kind in ("train", "test")
        objective, settings = self.objective, self.objective_settings
        resources["threads"] = objective.threads(settings) if trains else 1
        resources["gpu"] = objective.gpus(settings) if trains else 0
        return resources

    @property
    def objective(self) -> type[Objective]:
        return objective_class(self.objective_name)

    @property
    def fold_metric(self) -> str | None:
        """The per-fold score the report plots: the objective's (Objective.fold_metric), but
        RMSE for a network regressing (dataset.task regression)."""
        metric = self.objective.fold_metric
        if metric == "accuracy" and task_of(self.config.get("dataset", {})) == REGRESSION:
            return "rmse"
        return metric

    @property
    def job_modules(self) -> list[str]:
        """What this study's jobs import: the warm worker (hpstudy.worker) imports each once,
        so that no job pays for it. The user's functions are entries (`file.py:function`,
        `module:function`), imported last."""
        from hpstudy.tracking.client import MLFLOW_CLIENT_MODULES

        modules = ["numpy", "pandas", "sklearn", "scipy.stats", "hpstudy.jobs",
                   "hpstudy.data", "hpstudy.tracking.runs", "mlflow", *MLFLOW_CLIENT_MODULES,
                   "hpstudy.report", "hpstudy.strategies", self.objective.__module__,
                   *self.objective.imports]
        for strategy in self.strategies:
            modules += [name for name in strategy_class(strategy).imports
                        if name not in modules]
        return modules + self.objective.user_entries(self.objective_settings)

    @cached_property
    def needs_data(self) -> bool:
        """Whether the jobs read results/data/ (prepare_data runs first)."""
        return self.objective.reads_data(self.objective_settings)

    @property
    def repeats(self) -> int:
        return self.config["repeats"]

    @property
    def studies(self) -> list[str]:
        """Every study the DAG runs: one per strategy, plus `repeats - 1` more seeds of each
        stochastic strategy, named `<strategy>-repeat<r>` (grid has nothing to repeat)."""
        extra = [f"{s}-repeat{r}" for r in range(1, self.repeats) for s in self.strategies
                 if strategy_class(s).stochastic]
        return self.strategies + extra

    def repeat_studies(self, strategy: str) -> list[str]:
        """The studies of one strategy, seed 0 first."""
        return [s for s in self.studies if self.strategy_of(s) == strategy]

    @staticmethod
    def strategy_of(study: str) -> str:
        return study.split("-repeat", 1)[0]

    @staticmethod
    def repeat_of(study: str) -> int:
        return int(study.split("-repeat", 1)[1]) if "-repeat" in study else 0

    def study_seed(self, study: str) -> int:
        """Seed 0 is the config's seed (so repeats: 1 changes nothing); others derive from it."""
        repeat = self.repeat_of(study)
        return self.seed if repeat == 0 else derive_seed(self.seed, "repeat", repeat)

    def settings(self, study: str) -> dict[str, Any]:
        strategy = self.strategy_of(study)
        if strategy not in self.config["strategies"]:
            raise ConfigError(
                f"strategy {strategy!r} is not in config.strategies; configured: "
                f"{', '.join(self.strategies)}")
        return self.config["strategies"][strategy]

    def budget(self, study: str) -> int:
        strategy = self.strategy_of(study)
        return strategy_class(strategy).budget(self.settings(study), self.space)

    @cached_property
    def _rounds(self) -> dict[str, list[list[int]]]:
        # Cached: the DAG's input functions ask for it once per job.
        return {s: strategy_class(s).plan_rounds(self.budget(s), self.settings(s))
                for s in self.strategies}

    @cached_property
    def _round_of(self) -> dict[str, dict[int, int]]:
        return {s: {trial: index for index, trial_ids in enumerate(rounds)
                    for trial in trial_ids} for s, rounds in self._rounds.items()}

    def rounds(self, study: str) -> list[list[int]]:
        self.settings(study)  # a clear error for an unconfigured strategy
        return self._rounds[self.strategy_of(study)]

    @cached_property
    def _round_parents(self) -> dict[str, list[int | None]]:
        return {s: strategy_class(s).round_parents(rounds, self.settings(s))
                for s, rounds in self._rounds.items()}

    def round_parent(self, study: str, round_index: int) -> int | None:
        """The earlier round whose scores this round waits for (None: it can start at once)."""
        self.settings(study)
        return self._round_parents[self.strategy_of(study)][round_index]

    @cached_property
    def _continued_rounds(self) -> dict[str, list[int | None]]:
        # Cached like the rounds: the DAG's input functions ask once per training job.
        return {s: strategy_class(s).continued_rounds(rounds, self.settings(s))
                for s, rounds in self._rounds.items()}

    def continued_round(self, study: str, round_index: int) -> int | None:
        """The round whose checkpoints this round's trials continue from (None: fresh)."""
        self.settings(study)
        return self._continued_rounds[self.strategy_of(study)][round_index]

    def multi_fidelity(self, study: str) -> bool:
        return strategy_class(self.strategy_of(study)).multi_fidelity

    def checkpoints(self, study: str) -> bool:
        """Whether the study's trials save fold models for the next rung to continue: a
        multi-fidelity strategy's, on an objective that continues them (Objective.continues)."""
        return self.multi_fidelity(study) and self.objective.continues

    def round_of(self, study: str, trial: int) -> int:
        self.settings(study)
        return self._round_of[self.strategy_of(study)][trial]

    def trials(self, study: str) -> range:
        return range(self.budget(study))

    @cached_property
    def hash(self) -> str:
        return config_hash(self.config)

    def study_hash(self, study: str) -> str:
        """The hash of everything one study's results depend on: data, folds, objective,
        space, its strategy's settings and its seed. Changing another strategy leaves it be,
        so that study's MLflow runs and jobs are kept."""
        return config_hash({
            "study": study, "seed": self.study_seed(study), "settings": self.settings(study),
            **{key: self.config[key] for key in ("dataset", "cv", "objective", "space")
               if key in self.config}})  # no dataset: an objective that reads none

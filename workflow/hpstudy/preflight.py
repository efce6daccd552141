"""What can be known before any job runs, checked when the Snakefile is parsed (load_plan):
the config (hpstudy.config.resolve), the data's files (hpstudy.data.check_source), whether
its classes and size allow the folds and the test hold-out after dataset.classes and
dataset.limit, and whether the objective's fixed settings fit the data's images. Each problem
is one line naming the setting to change. No TensorFlow: the objective computes what its
layers need (Objective.check_data)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from hpstudy.config import ConfigError
from hpstudy.data import (
    REGRESSION,
    DataError,
    SourceFacts,
    check_source,
    split_problem,
    stratified_subset,
    task_of,
)
from hpstudy.plan import Plan

CONFIG_PREFIX = "invalid config: "
DATA_PREFIX = "invalid data: "


class PreflightError(Exception):
    """Input the workflow refuses before any job. The message is exactly what the user sees:
    "invalid config: " or "invalid data: ", then one line per problem."""


def load_plan(config: Mapping, command_line: Mapping | None = None) -> Plan:
    """The Snakefile's pre-flight: the plan of a config, or PreflightError for a bad config,
    bad data, or a fixed model setting the data rules out. command_line: the values given
    with `snakemake --config` (nested ones arrive as text: config.command_line_values)."""
    try:
        plan = Plan.from_config(config, command_line)
    except ConfigError as error:
        raise PreflightError(_prefixed(CONFIG_PREFIX, error)) from error
    try:
        check_plan(plan)
    except DataError as error:
        raise PreflightError(_prefixed(DATA_PREFIX, error)) from error
    except ValueError as error:
        raise PreflightError(_prefixed(CONFIG_PREFIX, error)) from error
    return plan


def _prefixed(prefix: str, error: Exception) -> str:
    # resolve() starts its messages with "invalid config: " already (hpstudy.suite strips it
    # from them): the prefix is written once either way.
    return prefix + str(error).removeprefix(prefix)


def selected_counts(counts: Mapping[int, int], dataset: Mapping) -> list[int]:
    """Examples per class after dataset.classes (in its order, as prepare_data renumbers
    them) and dataset.limit. The limit's stratified subset is computed by the same call
    prepare_data makes, on labels with the same counts: scikit-learn allocates a stratified
    subset from the class counts and the seed alone, so the counts come out the same."""
    classes = dataset.get("classes")
    per_class = [counts.get(label, 0) for label in classes] if classes is not None else [
        counts[label] for label in sorted(counts)]
    limit = dataset.get("limit")
    if limit is None or limit >= sum(per_class):
        return per_class
    labels = np.repeat(np.arange(len(per_class)), per_class)
    kept = labels[stratified_subset(labels, limit, dataset["split_seed"])]
    return np.bincount(kept, minlength=len(per_class)).tolist()


def check_plan(plan: Plan) -> SourceFacts | None:
    """Raise DataError (data) or ValueError (a setting the data rules out) before any job;
    returns what the data looked like (None for an objective without data)."""
    if not plan.needs_data:
        return None
    config = plan.config
    facts = check_source(config["dataset"])
    task = task_of(config["dataset"])
    classes = None
    if facts.label_counts is not None:
        counts = selected_counts(facts.label_counts, config["dataset"])
        problem = split_problem(counts, config["cv"], task)
        if problem:
            raise DataError(problem)
        if task != REGRESSION:  # a regression has no classes: None
            classes = sum(1 for count in counts if count)
    problems = plan.objective.check_data(plan.objective_settings, plan.space,
                                         facts.image_shape, classes)
    if problems:
        raise ValueError("\n  ".join(problems))
    return facts

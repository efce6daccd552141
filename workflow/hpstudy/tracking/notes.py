"""What MLflow's UI shows of a study beyond its numbers: the experiment's kind and the
descriptions ("notes") of the experiment and of each study run, written by the tracking jobs
(hpstudy.tracking.runs).

- Kind: the experiment tag `mlflow.experimentKind`; "custom_model_development" is the kind
  the UI calls "Machine learning" (the enum of the UI bundled in mlflow/server/js, 3.17, which
  also sets this tag when a user picks a kind). The 3.17 UI no longer opens an experiment by
  it (next point), but it records what the experiment is for the UIs and tools that read it.
- Landing page: the UI of MLflow 3.17 decides GenAI or model training per browser (the
  sidebar switch, stored in the browser; GenAI by default, whose "Overview" shows trace usage,
  all zeros here), unless the URL says `workflowType=machine_learning`. UI_PATH is that URL,
  on the experiment's run table; init_tracking writes it into results/tracking/experiment.json
  for `make ui` to print.
- Notes: the tag `mlflow.note.content` (markdown), which the UI shows as a description.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hpstudy.space import fixed_settings

KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
NOTE_TAG = "mlflow.note.content"
UI_PATH = "#/experiments/{experiment_id}/runs?workflowType=machine_learning"
# finish_studies replaces what follows this line of a study run's note (start_study writes
# what precedes it): a rerun rewrites the results rather than appending them twice.
RESULTS_HEADING = "\n\n**Results**\n\n"


def experiment_setup(plan, strategies: bool = True) -> dict[str, Any]:
    """What the experiment's description states: what every study shares and, with
    `strategies`, the strategies and their seeds (not their settings: a change to one
    strategy leaves the others' jobs alone; its seed and budget go on its study run)."""
    setup = {
        "objective": plan.objective_name,
        "objective_settings": plan.objective_settings,
        "dataset": plan.config["dataset"]["name"] if plan.needs_data else None,
        "folds": plan.folds,
        "seed": plan.seed,
        "space": plan.config["space"],
    }
    if strategies:
        setup["seeds"] = {strategy: len(plan.repeat_studies(strategy))
                          for strategy in plan.strategies}
    return setup


def _value(value) -> str:
    return f"{value:.5g}" if isinstance(value, float) else str(value)


def _parameter(name: str, spec: Mapping) -> str:
    if spec["type"] == "choice":
        text = f"`{name}`: choice of {', '.join(map(_value, spec['choices']))}"
    else:
        text = f"`{name}`: {spec['type']} [{_value(spec['low'])}, {_value(spec['high'])}]"
    if spec.get("transform"):
        text += f", {spec['transform']}"
    return text


def experiment_note(experiment: str, setup: Mapping) -> str:
    # The fixed settings only: a searched one is under "Search space". (Filtered here, not in
    # experiment_setup: init_tracking's params stay as they were, so no study reruns for this.)
    fixed = fixed_settings(setup["objective_settings"], setup["space"])
    settings = ", ".join(f"{key} {_value(value)}" for key, value in fixed.items())
    data = f" on {setup['dataset']}" if setup.get("dataset") else ""
    if "seeds" in setup:
        seeds = "; ".join(f"{strategy}: {count} seed{'s' if count > 1 else ''}"
                          for strategy, count in setup["seeds"].items())
        strategies = (f"{', '.join(setup['seeds'])}; one study run per strategy and seed "
                      f"({seeds}; base seed {setup['seed']})")
    else:  # init_tracking's: finish_studies names them (tracking.smk says why)
        strategies = (f"one study run per strategy and seed (base seed {setup['seed']}), "
                      f"listed here once the studies are finished")
    space = "\n".join(f"  - {_parameter(name, spec)}"
                      for name, spec in setup["space"].items())
    return (f"Hyperparameter study **{experiment}**: the search strategies below, each given "
            f"its budget of trials, compared by the best objective they find (lower is "
            f"better).\n\n"
            f"- Objective: {setup['objective']}{data} ({settings})\n"
            f"- Strategies: {strategies}\n"
            f"- Cross-validation: {setup['folds']} folds per trial\n"
            f"- Search space:\n{space}\n\n"
            f"Each study run holds its trials as child runs; the report is attached to the "
            f"study runs as artifacts.")


def study_note(study: str, strategy: str, seed: int | None, budget: int | None) -> str:
    parts = [f"Study **{study}**: strategy {strategy}"]
    if seed is not None:
        parts.append(f"seed {seed}")
    if budget is not None:
        parts.append(f"budget {budget} trials")
    return ", ".join(parts) + "."


def keep_results(note: str, current: str) -> str:
    """A study run's new note (start_study), keeping the results section that finish_studies
    wrote into its current one: a rerun of start_study alone must not drop them."""
    _, found, results = current.partition(RESULTS_HEADING)
    return note + found + results


def verdict_sentences(path: str | Path | None, strategy: str) -> list[str]:
    """The report's verdict sentences about this strategy (verdict.csv beside the report's
    comparison.csv); none when the report has no verdict file."""
    if path is None or not Path(path).is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return [row["sentence"] for row in csv.DictReader(handle)
                if row.get("strategy") == strategy and row.get("sentence")]


def results_note(note: str, trials: int, ok: int, best: float | None,
                 best_trial: int | None, sentences: Sequence[str]) -> str:
    """The study run's note with its results section (re)written after start_study's part."""
    lines = [f"- {ok} of {trials} trials ok"]
    if best is not None and not math.isnan(best):
        lines.append(f"- Best objective {best:.6g}, trial {best_trial}")
    if sentences:
        lines.append("- Verdict of the report:")
        lines += [f"  - {sentence}" for sentence in sentences]
    return note.split(RESULTS_HEADING, 1)[0] + RESULTS_HEADING + "\n".join(lines)

# Validated config, its plan, and the input functions the rules share (how their jobs
# run: jobs.smk). Only light imports here: the Snakefile is parsed by every `snakemake` call.
import os
import re
import sys
from pathlib import Path

PACKAGE_ROOT = str(Path(workflow.basedir) / "workflow")
sys.path.insert(0, PACKAGE_ROOT)
# Adaptive studies chain rounds (round r needs round r-1's scores); Snakemake walks that
# chain recursively when it builds the DAG (snakemake issue 2420).
sys.setrecursionlimit(max(sys.getrecursionlimit(), 100_000))

# Snakemake's own cost per job (hpstudy.snakemake_overhead): its scheduler, run in this
# process, with one fix (its own CPU grew with the square of a run's length), jobs described
# only when the log keeps the description (`--quiet rules` drops it), Python's garbage
# collector off from here until the DAG is built (then its objects frozen out of later
# collections), its ILP scheduler asked only when there is a choice to make, and the input,
# params and resources functions of the rules with their signatures worked out once
# (known_signature: Snakemake otherwise inspects them at every call).
from hpstudy.snakemake_overhead import fix_snakemake_scheduler, known_signature

fix_snakemake_scheduler()

from hpstudy.strategies import registry
from hpstudy.paths import (
    DATA,
    REPORT,
    TRACKING,
    checkpoint_file,
    fold_file,
    logged_file,
    round_file,
    round_logged,
    round_results,
    round_timings,
    score_file,
    study_logged,
    study_tracking,
    test_result,
    timing_file,
    timings_table,
    trials_table,
)
from hpstudy.tracking.client import redact


# A bad config, bad data, a dataset too small for the folds, or a fixed model setting the
# images rule out stop the workflow here, before any job (init_tracking included) writes
# anything. Cheap enough for every parse: headers and label files only; prepare_data still
# reads and checks everything. The message is the user's whole answer: no traceback.
from hpstudy.preflight import PreflightError, load_plan

try:
    PLAN = load_plan(config, command_line=workflow.config_settings.config)
except PreflightError as error:
    # sys.exit, not WorkflowError: Snakemake frames any exception raised here with
    # 'WorkflowError in file ".../common.smk", line N:' and a stack-frame line; SystemExit
    # it lets through, so the message alone goes to stderr, with exit status 1.
    sys.exit(str(error))

# MLflow prints "View run ... at: <tracking URI>" to stdout for every run it ends on a server,
# credentials included; jobs inherit this environment. (Set, not required: no `envvars:`.)
os.environ.update(MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT="true")
# MLflow sends usage telemetry from every process that imports it unless told not to (a
# thread that fetches its config over HTTP at import, events on every client call): 3 % of
# a benchmark's CPU here, and a study's jobs should not phone home. A user's own setting
# wins (setdefault).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# MLFLOW_TRACKING_URI wins over config. Jobs read the URI from their environment, so
# credentials in it never reach `params:` (stored by Snakemake), logs or MLflow tags.
os.environ.update(
    MLFLOW_TRACKING_URI=os.environ.get("MLFLOW_TRACKING_URI") or PLAN.config["tracking"]["uri"]
)
STRATEGY_NAMES = list(registry())
TRACKING_URI_REDACTED = redact(os.environ.get("MLFLOW_TRACKING_URI"))
wildcard_constraints:
    study="|".join(map(re.escape, PLAN.studies)),
    round=r"\d+",
    trial=r"\d+",
    fold=r"\d+",


# execution.fold_jobs: per_round evaluates, and logs, a whole round in one job, per_study a
# whole study: the files of a trial's results are then a round's (ROUND_FILES).
PER_ROUND = PLAN.fold_jobs == "per_round"
PER_STUDY = PLAN.fold_jobs == "per_study"
ROUND_FILES = PER_ROUND or PER_STUDY


def trial_results(study, trials):
    """The files holding these trials' scores (and fold records): one per trial, or, with
    per_round or per_study, one per round they belong to."""
    if ROUND_FILES:
        rounds = sorted({PLAN.round_of(study, t) for t in trials})
        return [round_results(study, r) for r in rounds]
    return [score_file(study, t) for t in trials]


def study_logs(study):
    """The markers of a study's trials logged to MLflow: one per trial, or per round."""
    if ROUND_FILES:
        return [round_logged(study, r) for r in range(len(PLAN.rounds(study)))]
    return [logged_file(study, t) for t in PLAN.trials(study)]


def study_target(study):
    """A study: its trials.csv and every trial logged to MLflow."""
    return [trials_table(study)] + study_logs(study)


def strategy_target(strategy):
    """Everything of one strategy: its study and its repeats (other seeds)."""
    PLAN.settings(strategy)  # a clear error if the strategy is not configured
    return [path for study in PLAN.repeat_studies(strategy) for path in study_target(study)]


def repeat_trials():
    """{strategy: [trials.csv of seed 0, 1, ...]} for the strategies config repeats."""
    return {
        strategy: [trials_table(study) for study in PLAN.repeat_studies(strategy)]
        for strategy in PLAN.strategies
        if len(PLAN.repeat_studies(strategy)) > 1
    }


# Files the objective's training and test jobs read (a replayed study's trials.csv).
OBJECTIVE_FILES = {f"objective_{name}": path
                   for name, path in PLAN.objective.input_files(PLAN.objective_settings).items()}


@known_signature
def propose_inputs(wildcards):
    """A round reads the round it follows (its history and proposals; by default the round
    before it, Strategy.round_parents) and that round's scores."""
    round_index = int(wildcards.round)
    rounds = PLAN.rounds(wildcards.study)
    if round_index >= len(rounds):
        raise ValueError(f"{wildcards.study} has {len(rounds)} rounds, not {round_index + 1}")
    parent = PLAN.round_parent(wildcards.study, round_index)
    if parent is None:
        return {}
    return {
        "previous_round": round_file(wildcards.study, parent),
        "previous_scores": trial_results(wildcards.study, rounds[parent]),
    }


# What every job that evaluates the objective reads: the objective's files and the data.
EVALUATION_FILES = {
    **OBJECTIVE_FILES,
    **({key: DATA[key] for key in ("x", "y", "folds")} if PLAN.needs_data else {}),
}


def _training_inputs(study, round_index):
    return {"round": round_file(study, round_index), **EVALUATION_FILES}


@known_signature
def fold_inputs(wildcards):
    """A trial's round and the data and, for a trial that continues a rung below (a
    multi-fidelity promotion), the checkpoints of that rung's trials, for the job's folds:
    which of them is its parent is decided by the proposals, so the job waits for all."""
    study, trial = wildcards.study, int(wildcards.trial)
    round_index = PLAN.round_of(study, trial)
    inputs = _training_inputs(study, round_index)
    continued = PLAN.continued_round(study, round_index)
    if continued is not None and PLAN.checkpoints(study):
        folds = [wildcards.fold] if "fold" in wildcards.keys() else range(PLAN.folds)
        inputs["checkpoints"] = [checkpoint_file(study, parent, k) for parent in
                                 PLAN.rounds(study)[continued] for k in folds]
    return inputs


def studies_pattern(checkpoints):
    """A regex of the studies whose trials do (or do not) save checkpoints (Plan.checkpoints:
    a multi-fidelity strategy's on a network); one that matches nothing when there are none."""
    names = [s for s in PLAN.studies if PLAN.checkpoints(s) == checkpoints]
    return "|".join(map(re.escape, names)) or "(?!)"


def checkpoint_outputs(checkpoints, folds):
    """A multi-fidelity trial's fold models, as temporary outputs (Snakemake removes them
    once the next rung has trained: nothing else reads them)."""
    if not checkpoints:
        return {}
    return {"checkpoints": [temp(checkpoint_file("{study}", "{trial}", k)) for k in folds]}


@known_signature
def round_inputs(wildcards):
    return _training_inputs(wildcards.study, int(wildcards.round))


@known_signature
def study_inputs(wildcards):
    """What a study's one job (per_study) reads: the data and the objective's files."""
    return dict(EVALUATION_FILES)


def log_studies_inputs(strategy):
    """What a strategy's one logging job (per_study) reads: every round's results and
    timings of each of its studies (its own and its repeats', in that order)."""
    rounds = range(len(PLAN.rounds(strategy)))
    studies = PLAN.repeat_studies(strategy)
    inputs = {
        "experiment": TRACKING,
        "results": [round_results(s, r) for s in studies for r in rounds],
        "timings": [round_timings(s, r) for s in studies for r in rounds],
    }
    if PLAN.needs_data:
        inputs["dataset"] = DATA["metadata"]
    return inputs


def strategy_studies(strategy):
    """A regex of a strategy's studies (its own and its repeats')."""
    return "|".join(map(re.escape, PLAN.repeat_studies(strategy)))


@known_signature
def score_inputs(wildcards):
    return [fold_file(wildcards.study, wildcards.trial, k) for k in range(PLAN.folds)]


def trial_timings(study, trial):
    return [timing_file(study, trial, k) for k in range(PLAN.folds)]


@known_signature
def summary_inputs(wildcards):
    study = wildcards.study
    rounds = range(len(PLAN.rounds(study)))
    if ROUND_FILES:
        timings = [round_timings(study, r) for r in rounds]
    else:
        timings = [path for t in PLAN.trials(study) for path in trial_timings(study, t)]
    return {
        "rounds": [round_file(study, r) for r in rounds],
        "scores": trial_results(study, PLAN.trials(study)),
        "timings": timings,
    }


def trial_log_inputs(wildcards):
    """What the job that scores a trial reads to log it to MLflow (runs.log_trial_here): its
    study's run (start_study; ancient: a study run made anew, for a new tracking URI, reruns
    no training, finish_studies logs the trials into it), the data's metadata (its checksum
    is a tag) and, for a promoted multi-fidelity trial, the markers of the rung below
    (logged before it: a configuration's rungs go onto its run in order; that job is
    upstream already, through the round's proposals)."""
    study = wildcards.study
    inputs = {"tracking": ancient(study_tracking(study))}
    continued = PLAN.continued_round(study, PLAN.round_of(study, int(wildcards.trial)))
    if continued is not None:
        inputs["rung_below"] = [logged_file(study, t) for t in PLAN.rounds(study)[continued]]
    if PLAN.needs_data:
        inputs["dataset"] = DATA["metadata"]
    return inputs


@known_signature
def train_trial_inputs(wildcards):
    """execution.fold_jobs per_trial: a trial's training, scoring and logging in one job."""
    return {**fold_inputs(wildcards), **trial_log_inputs(wildcards)}


@known_signature
def score_trial_inputs(wildcards):
    """execution.fold_jobs per_fold: a trial's scoring and logging, once its folds are in."""
    return {"folds": score_inputs(wildcards),
            "timings": trial_timings(wildcards.study, wildcards.trial),
            **trial_log_inputs(wildcards)}


def trial_log_params():
    """The params of the job that logs a trial: where it belongs (its strategy, its round)."""
    return {"strategy": lambda w: PLAN.strategy_of(w.study),
            "round": lambda w: PLAN.round_of(w.study, int(w.trial))}


@known_signature
def log_round_inputs(wildcards):
    inputs = {
        "tracking": study_tracking(wildcards.study),
        "results": round_results(wildcards.study, wildcards.round),
        "timings": round_timings(wildcards.study, wildcards.round),
    }
    if PLAN.needs_data:
        inputs["dataset"] = DATA["metadata"]
    return inputs


@known_signature
def test_inputs(wildcards):
    """The held-out test reads every score of the study (to pick the best) and the data."""
    study = wildcards.study
    return {"scores": trial_results(study, PLAN.trials(study)), **EVALUATION_FILES}


def job_threads(kind):
    """Threads of one kind of job (hpstudy.plan.Plan.resources says where they come from)."""
    return PLAN.resources(kind)["threads"]


def job_resources(kind):
    """execution.resources.<kind> as Snakemake resources: runtime (minutes) and mem_mb, which
    a cluster executor turns into its job's limits, and gpu: with `device: gpu` a training job
    asks for one GPU (locally, --resources gpu=N caps how many share the machine's GPUs)."""
    resources = PLAN.resources(kind)
    return {name: resources[name] for name in ("runtime", "mem_mb", "gpu")}


@known_signature
def trial_group(wildcards):
    """execution.group for a trial's training and scoring jobs: the cluster job they join
    (Snakemake merges the connected jobs of one group id into one submission)."""
    if PLAN.group == "trial":
        return f"{wildcards.study}-trial{wildcards.trial}"
    return f"{wildcards.study}-round{PLAN.round_of(wildcards.study, int(wildcards.trial))}"


# None: each job is its own cluster job (and `localrules` can apply; see tracking.smk).
TRIAL_GROUP = None if PLAN.group == "none" else trial_group
# With group "round", a round's proposal job joins it too: it is what connects the round's
# trials, so Snakemake sees them as one group.
ROUND_GROUP = "{study}-round{round}" if PLAN.group == "round" else None

"""Every file of results/, named once. The rules take their inputs and outputs from here;
a function called with Snakemake wildcard names (`"{study}"`) gives the rule's pattern.

The layout (docs/architecture.md, What runs) is what users and their scripts read: tests
spell the paths out literally on purpose, so that a change here that moves a user's file
fails a test.
"""

from __future__ import annotations

RESULTS = "results"
DATA = {
    "x": f"{RESULTS}/data/x.npy",
    "y": f"{RESULTS}/data/y.npy",
    "folds": f"{RESULTS}/data/folds.npy",
    "metadata": f"{RESULTS}/data/dataset.json",
}
TRACKING = f"{RESULTS}/tracking/experiment.json"
REPORT = {
    "html": f"{RESULTS}/report/index.html",
    "table": f"{RESULTS}/report/comparison.csv",
    "training_time": f"{RESULTS}/report/training_time.csv",
    "repeats": f"{RESULTS}/report/repeats.csv",
    "verdict": f"{RESULTS}/report/verdict.csv",
    "resource": f"{RESULTS}/report/resource.csv",
    "importance": f"{RESULTS}/report/importance.csv",
    "figures": f"{RESULTS}/report/figures",
}


def study_tracking(study) -> str:
    """The study's MLflow parent run (its id), made by start_study."""
    return f"{RESULTS}/tracking/{study}.json"


def round_file(study, round_index) -> str:
    return f"{RESULTS}/{study}/rounds/round_{round_index}.json"


def round_results(study, round_index) -> str:
    """execution.fold_jobs: per_round: the round's fold records and scores, in one file."""
    return f"{RESULTS}/{study}/rounds/round_{round_index}_results.json"


def round_timings(study, round_index) -> str:
    """The measured fit times of the round's folds (per_round)."""
    return f"{RESULTS}/{study}/rounds/round_{round_index}_timings.json"


def round_logged(study, round_index) -> str:
    """The marker of a round's trials logged to MLflow (per_round): their run ids."""
    return f"{RESULTS}/{study}/rounds/round_{round_index}_mlflow.json"


def fold_file(study, trial, fold) -> str:
    return f"{RESULTS}/{study}/trials/{trial}/fold_{fold}.json"


def timing_file(study, trial, fold) -> str:
    """A fold's measured fit time: kept apart from the fold's (reproducible) record."""
    return f"{RESULTS}/{study}/trials/{trial}/fold_{fold}_timing.json"


def checkpoint_file(study, trial, fold) -> str:
    """A multi-fidelity trial's fold model (weights and optimizer state), which a promoted
    trial of the next rung continues from; temporary: removed once no job needs it."""
    return f"{RESULTS}/{study}/trials/{trial}/fold_{fold}.keras"


def score_file(study, trial) -> str:
    return f"{RESULTS}/{study}/trials/{trial}/score.json"


def logged_file(study, trial) -> str:
    """The marker of a trial logged to MLflow (its run id)."""
    return f"{RESULTS}/{study}/trials/{trial}/mlflow.json"


def trials_table(study) -> str:
    return f"{RESULTS}/{study}/trials.csv"


def timings_table(study) -> str:
    return f"{RESULTS}/{study}/timings.csv"


def test_result(study) -> str:
    """The held-out test of the study's best trial."""
    return f"{RESULTS}/{study}/test.json"


def study_logged(study) -> str:
    """The marker of a study's MLflow run closed with its artifacts."""
    return f"{RESULTS}/{study}/mlflow_study.json"


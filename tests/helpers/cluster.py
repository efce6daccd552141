"""The SLURM arguments and job resources of tests/test_cluster.py, and the study
bench/cluster.py measures with them."""

from __future__ import annotations

import copy

from tests.helpers.workdir import REPO, load_config

# The profile as users run it, plus what this one-node test cluster needs: groups must fit its
# 2 CPUs; it has no accounts; and without slurmdbd, job states come from squeue (the cluster
# keeps finished jobs for MinJobAge = 1 h). A short first status check keeps the test quick.
SLURM_ARGS = ("--profile", str(REPO / "profiles" / "slurm"), "--cores", "2",
              "--resources", "mem_mb=8000", "--slurm-no-account",
              "--slurm-status-command", "squeue",
              "--slurm-init-seconds-before-status-checks", "2",
              # Kept so that tests/test_cluster.py's credential check reads the jobs'
              # logs too.
              "--slurm-keep-successful-logs")
# Distinct values per kind of job, so that each job's request shows where it came from.
RESOURCES = {
    "data": {"runtime": 7, "mem_mb": 1100},
    "propose": {"runtime": 5, "mem_mb": 900},
    "train": {"runtime": 11, "mem_mb": 1500},
    "test": {"runtime": 9, "mem_mb": 1300},
    "light": {"runtime": 3, "mem_mb": 700},
}


def slurm_execution() -> dict:
    """One job per fold, a trial's folds and score grouped into one SLURM job, each kind of
    job asking for its own RESOURCES."""
    return {"fold_jobs": "per_fold", "group": "trial", "resources": copy.deepcopy(RESOURCES)}


def cnn_config() -> dict:
    """bench/cluster.py's study: the tiny real CNN, all four strategies (TPE and GP in two
    rounds), run as slurm_execution() says."""
    config = load_config("cnn_tiny")
    config["experiment"] = "test-cluster-cnn"
    config["strategies"]["tpe"] = {"budget": 2, "batch_size": 1, "n_startup_jobs": 1}
    config["strategies"]["gp"] = {"budget": 2, "batch_size": 1, "n_initial_points": 1}
    config["execution"] = slurm_execution()
    return config

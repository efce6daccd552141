# How jobs start (hpstudy.launch, hpstudy.worker; docs/architecture.md, How jobs start). Each
# rule runs its adapter script through `python -m hpstudy.launch`, which forks it from this
# run's warm worker when there is one (TensorFlow, MLflow, hyperopt, scikit-optimize imported
# once per run, not once per job) and otherwise runs it in a fresh interpreter. Snakemake
# schedules the jobs either way.
import json
import os
import sys
import time
from pathlib import Path

from hpstudy.launch import CLUSTER_NODE_ENV, WORKER_PID_ENV, WORKER_SOCKET_ENV, JobSpec

# Jobs run their scripts in fresh interpreters: let them import hpstudy too. (Set, not
# required, so no `envvars:`; a user's own PYTHONPATH is kept after ours.)
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        part for part in (PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if part
    )
)
# Every job runs `python -m hpstudy.launch`: the Python running this Snakefile (in a conda
# environment's jobs, its own python comes first in PATH).
os.environ.update(
    PATH=os.pathsep.join(
        part for part in (str(Path(sys.executable).parent), os.environ.get("PATH")) if part
    )
)


def _files(files):
    named = {
        name: value if isinstance(value, str) else list(value)
        for name, value in files.items()
    }
    return {"named": named, "positional": [str(path) for path in files]}


def job_params(**params):
    """A rule's params: each one (a value, or a function of the wildcards) as Snakemake
    knows it, so that changing one reruns the job, plus `job`, the JSON argument of
    hpstudy.launch with the params, named input, output and wildcards. (`job` is derived
    from input and output, which Snakemake leaves out of its params trigger.)"""
    # Snakemake formats a string param, and each string of a list param, with the
    # wildcards, so a config value holding "{x}" would stop the workflow (or change meaning):
    # those go in as functions. Other constants (mappings, numbers) it leaves alone, and a
    # function costs Snakemake an inspect.signature per job (a tenth of a large DAG's build).
    functions = {
        name: (lambda wildcards, value=value: value) if isinstance(value, str | list) else value
        for name, value in params.items()
    }
    functions = {
        name: known_signature(value) if callable(value) else value
        for name, value in functions.items()
    }

    def spec(wildcards, input, output):
        # JobSpec: inline in the command, or a file when too long for one (hpstudy.launch).
        job = {
            "input": _files(input),
            "output": _files(output),
            "params": {
                name: value(wildcards) if callable(value) else value
                for name, value in functions.items()
            },
            "wildcards": dict(wildcards.items()),
        }
        return JobSpec(json.dumps(job))

    return {**functions, "job": known_signature(spec)}


def launch(script):
    """The shell command of a job: workflow/scripts/<script>.py through hpstudy.launch."""
    return f"python -m hpstudy.launch {script} {{threads}} {{log:q}} {{params.job:q}}"


# A job of a cluster executor runs inside its own allocation: never in the worker of the
# `snakemake` that submitted it (which it would reach on a one-node cluster). It does not
# write the run's sqlite DB either (a trial it scores is logged by finish_studies, on the
# node Snakemake runs on: hpstudy.tracking.runs.log_trial_here).
if workflow.remote_exec:
    for name in (WORKER_SOCKET_ENV, WORKER_PID_ENV):
        os.environ.pop(name, None)
    os.environ[CLUSTER_NODE_ENV] = "1"


def warm_start_possible():
    """execution.warm_start, for jobs that run here in this Python: not with conda or
    container deployment, whose jobs run other interpreters."""
    from snakemake.settings.types import DeploymentMethod

    methods = workflow.deployment_settings.deployment_method
    isolated = {DeploymentMethod.CONDA, DeploymentMethod.APPTAINER} & set(methods)
    return PLAN.warm_start and not isolated and not workflow.remote_exec


WORKER = {}


onstart:
    if warm_start_possible():
        from hpstudy import worker

        device = PLAN.objective_settings.get("device", "cpu")
        WORKER["process"] = worker.start(
            PLAN.job_modules,
            device,
            # One log per run: a new file, so a run on a full disk changes no earlier file.
            f"results/logs/worker/{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log",
            # Its table loaded, or its surrogate fitted, once for every job (Objective.warm).
            objective=(PLAN.objective_name, PLAN.objective_settings),
        )


onsuccess:
    from hpstudy import worker

    worker.stop(WORKER.pop("process", None))


onerror:
    from hpstudy import worker

    worker.stop(WORKER.pop("process", None))

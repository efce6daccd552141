from hpstudy.jobs import job_attempt, score_trial, setup_logging, train_folds
from hpstudy.tracking.runs import log_trial_here, trial_request

setup_logging(snakemake.log[0])
inputs, params, output = snakemake.input, snakemake.params, snakemake.output
train_folds(
    objective=params.objective,
    settings=params.settings,
    round_path=inputs.round,
    trial=int(snakemake.wildcards.trial),
    folds=params.folds,
    data_paths={key: inputs[key] for key in ("x", "y", "folds")} if "x" in inputs.keys() else None,
    threads=snakemake.threads,
    outputs=list(output.folds),
    timing_outputs=list(output.timings),
    checkpoints=list(inputs.get("checkpoints", [])),
    checkpoint_outputs=list(output.get("checkpoints", [])),
    attempt=job_attempt(),
)
# One job per trial (execution.fold_jobs: per_trial) also scores and logs it: no jobs of
# their own.
if "score" in output.keys():
    score_trial(params.objective, params.settings, list(output.folds), output.score)
    log_trial_here(
        trial_request(
            inputs.tracking, snakemake.wildcards.study,
            params.strategy, params.round, output.score, output.folds, output.timings,
            inputs.get("dataset"),
        ),
        output.logged,
        rung_below=list(inputs.get("rung_below", [])),
    )

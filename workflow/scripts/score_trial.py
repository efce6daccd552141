from hpstudy.jobs import score_trial, setup_logging
from hpstudy.tracking.runs import log_trial_here, trial_request

setup_logging(snakemake.log[0])
inputs, params, output = snakemake.input, snakemake.params, snakemake.output
score_trial(params.objective, params.settings, inputs.folds, output.score)
log_trial_here(
    trial_request(
        inputs.tracking, snakemake.wildcards.study, params.strategy,
        params.round, output.score, inputs.folds, inputs.timings, inputs.get("dataset"),
    ),
    output.logged,
    rung_below=list(inputs.get("rung_below", [])),
)

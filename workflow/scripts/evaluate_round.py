from hpstudy.jobs import evaluate_round, job_attempt, setup_logging

setup_logging(snakemake.log[0])
inputs, params, output = snakemake.input, snakemake.params, snakemake.output
evaluate_round(
    objective=params.objective,
    settings=params.settings,
    round_path=inputs.round,
    folds=params.folds,
    data_paths={key: inputs[key] for key in ("x", "y", "folds")} if "x" in inputs.keys() else None,
    threads=snakemake.threads,
    output=output.results,
    timings_output=output.timings,
    attempt=job_attempt(),
)

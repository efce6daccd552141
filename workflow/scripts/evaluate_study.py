from hpstudy.jobs import evaluate_study, job_attempt, setup_logging

setup_logging(snakemake.log[0])
inputs, params, output = snakemake.input, snakemake.params, snakemake.output
evaluate_study(
    strategy=params.strategy,
    space_config=params.space,
    settings=params.settings,
    study_seed=params.seed,
    rounds=params.rounds,
    round_parents=params.round_parents,
    objective=params.objective,
    objective_settings=params.objective_settings,
    folds=params.folds,
    data_paths={key: inputs[key] for key in ("x", "y", "folds")} if "x" in inputs.keys() else None,
    threads=snakemake.threads,
    round_outputs=output.rounds,
    results_outputs=output.results,
    timings_outputs=output.timings,
    space_names=params.names,
    trials_output=output.trials,
    timings_table_output=output.timings_table,
    attempt=job_attempt(),
)

from hpstudy.jobs import setup_logging, train_folds

setup_logging(snakemake.log[0])
inputs = snakemake.input
train_folds(
    objective=snakemake.params.objective,
    settings=snakemake.params.settings,
    round_path=inputs.round,
    trial=int(snakemake.wildcards.trial),
    folds=snakemake.params.folds,
    data_paths={key: inputs[key] for key in ("x", "y", "folds")} if "x" in inputs.keys() else None,
    threads=snakemake.threads,
    outputs=list(snakemake.output.folds),
    timing_outputs=list(snakemake.output.timings),
)

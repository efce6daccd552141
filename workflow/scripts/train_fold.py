from hpstudy.jobs import setup_logging, train_fold

setup_logging(snakemake.log[0])
inputs = snakemake.input
train_fold(
    objective=snakemake.params.objective,
    settings=snakemake.params.settings,
    round_path=inputs.round,
    trial=int(snakemake.wildcards.trial),
    fold=int(snakemake.wildcards.fold),
    data_paths={key: inputs[key] for key in ("x", "y", "folds")} if "x" in inputs.keys() else None,
    threads=snakemake.threads,
    output=snakemake.output[0],
)

from hpstudy.jobs import evaluate_test, setup_logging

setup_logging(snakemake.log[0])
inputs = snakemake.input
evaluate_test(
    objective=snakemake.params.objective,
    settings=snakemake.params.settings,
    strategy=snakemake.wildcards.study,
    score_paths=inputs.scores,
    data_paths={key: inputs[key] for key in ("x", "y", "folds")} if "x" in inputs.keys() else None,
    study_seed=snakemake.params.seed,
    threads=snakemake.threads,
    output=snakemake.output[0],
)

from hpstudy.jobs import setup_logging
from hpstudy.tracking.runs import start_study

setup_logging(snakemake.log[0])
start_study(snakemake.input.experiment, snakemake.wildcards.study, snakemake.params.strategy,
            snakemake.params.study_hash, snakemake.output[0], seed=snakemake.params.seed,
            budget=snakemake.params.budget)

from hpstudy.jobs import setup_logging
from hpstudy.tracking.runs import finish_study

setup_logging(snakemake.log[0])
finish_study(snakemake.input.tracking, snakemake.wildcards.study, snakemake.input.trials,
             [*snakemake.input.report, snakemake.input.figures, *snakemake.input.test],
             snakemake.output[0], verdict=snakemake.params.verdict,
             setup=snakemake.params.setup)

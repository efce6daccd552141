from hpstudy.jobs import setup_logging
from hpstudy.tracking.runs import finish_study

setup_logging(snakemake.log[0])
inputs = snakemake.input
report = [*inputs.report, inputs.figures] if snakemake.params.report_artifacts else []
finish_study(inputs.tracking, snakemake.wildcards.study, inputs.trials,
             [*report, *inputs.test], snakemake.output[0], verdict=snakemake.params.verdict,
             setup=snakemake.params.setup)

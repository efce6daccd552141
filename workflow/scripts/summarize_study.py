from hpstudy.jobs import setup_logging, summarize_study

setup_logging(snakemake.log[0])
summarize_study(snakemake.params.names, snakemake.input.rounds, snakemake.input.scores,
                snakemake.input.timings, snakemake.output.trials, snakemake.output.timings)

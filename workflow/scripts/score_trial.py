from hpstudy.jobs import score_trial, setup_logging

setup_logging(snakemake.log[0])
score_trial(snakemake.params.objective, snakemake.params.settings, snakemake.input.folds,
            snakemake.output[0])

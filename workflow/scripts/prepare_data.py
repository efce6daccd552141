from hpstudy.jobs import prepare_data, setup_logging

setup_logging(snakemake.log[0])
prepare_data(snakemake.params.dataset, snakemake.params.cv, snakemake.output.x,
             snakemake.output.y, snakemake.output.folds, snakemake.output.metadata)

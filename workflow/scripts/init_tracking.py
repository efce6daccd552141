from hpstudy.jobs import setup_logging
from hpstudy.tracking import init_tracking

setup_logging(snakemake.log[0])
init_tracking(snakemake.params.experiment, snakemake.output[0])

from hpstudy.jobs import setup_logging
from hpstudy.tracking.runs import init_tracking

setup_logging(snakemake.log[0])
# .get: a job spec written by hand (tests/test_worker.py) may name the experiment only; the
# experiment then has no description.
init_tracking(snakemake.params.experiment, snakemake.output[0], snakemake.params.get("setup"))

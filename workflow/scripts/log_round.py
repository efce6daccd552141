from hpstudy.fileio import read_json
from hpstudy.jobs import setup_logging
from hpstudy.tracking.runs import log_round

setup_logging(snakemake.log[0])
dataset = snakemake.input.get("dataset")
log_round(
    tracking_path=snakemake.input.tracking,
    study=snakemake.wildcards.study,
    strategy=snakemake.params.strategy,
    round_index=int(snakemake.wildcards.round),
    results=read_json(snakemake.input.results),
    timings=read_json(snakemake.input.timings)["timings"],
    data_checksum=read_json(dataset)["sha256"]["x"] if dataset else None,
    output=snakemake.output[0],
)

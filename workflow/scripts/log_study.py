from hpstudy.fileio import read_json
from hpstudy.jobs import setup_logging
from hpstudy.tracking.runs import log_rounds

setup_logging(snakemake.log[0])
inputs = snakemake.input
dataset = inputs.get("dataset")
log_rounds(
    tracking_path=inputs.tracking,
    study=snakemake.wildcards.study,
    strategy=snakemake.params.strategy,
    rounds=[
        (index, read_json(results), read_json(timings)["timings"], marker)
        for index, (results, timings, marker) in enumerate(
            zip(inputs.results, inputs.timings, snakemake.output, strict=True)
        )
    ],
    data_checksum=read_json(dataset)["sha256"]["x"] if dataset else None,
)

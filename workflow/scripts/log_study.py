from hpstudy.fileio import read_json
from hpstudy.jobs import setup_logging
from hpstudy.tracking.runs import log_study

setup_logging(snakemake.log[0])
inputs, params, output = snakemake.input, snakemake.params, snakemake.output
dataset = inputs.get("dataset")
log_study(
    experiment_path=inputs.experiment,
    study=snakemake.wildcards.study,
    strategy=params.strategy,
    study_hash=params.study_hash,
    seed=params.seed,
    budget=params.budget,
    tracking_output=output.tracking,
    rounds=[
        (index, read_json(results), read_json(timings)["timings"], marker)
        for index, (results, timings, marker) in enumerate(
            zip(inputs.results, inputs.timings, output.markers, strict=True)
        )
    ],
    data_checksum=read_json(dataset)["sha256"]["x"] if dataset else None,
)

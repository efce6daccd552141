from hpstudy.fileio import read_json
from hpstudy.jobs import setup_logging
from hpstudy.tracking.runs import log_studies

setup_logging(snakemake.log[0])
inputs, params, output = snakemake.input, snakemake.params, snakemake.output
dataset = inputs.get("dataset")
# The rule lists each study's rounds in turn, its studies in params.studies' order.
rounds = len(output.markers) // len(params.studies)
log_studies(
    experiment_path=inputs.experiment,
    strategy=params.strategy,
    studies=[
        {
            **study,
            "tracking_output": tracking,
            "rounds": [
                (r, read_json(results), read_json(timings)["timings"], marker)
                for r, (results, timings, marker) in enumerate(
                    zip(
                        inputs.results[first : first + rounds],
                        inputs.timings[first : first + rounds],
                        output.markers[first : first + rounds],
                        strict=True,
                    )
                )
            ],
        }
        for study, tracking, first in zip(
            params.studies,
            output.tracking,
            range(0, len(output.markers), rounds),
            strict=True,
        )
    ],
    data_checksum=read_json(dataset)["sha256"]["x"] if dataset else None,
)

from hpstudy.fileio import read_json
from hpstudy.jobs import setup_logging
from hpstudy.tracking.runs import log_trial

setup_logging(snakemake.log[0])
dataset = snakemake.input.get("dataset")
log_trial(
    tracking_path=snakemake.input.tracking,
    study=snakemake.wildcards.study,
    strategy=snakemake.params.strategy,
    round_index=snakemake.params.round,
    score=read_json(snakemake.input.score),
    fold_records=sorted((read_json(p) for p in snakemake.input.folds), key=lambda r: r["fold"]),
    fold_timings=[read_json(p) for p in snakemake.input.timings],
    data_checksum=read_json(dataset)["sha256"]["x"] if dataset else None,
    output=snakemake.output[0],
)

from hpstudy.jobs import propose_round, setup_logging

setup_logging(snakemake.log[0])
propose_round(
    strategy=snakemake.params.strategy,
    space_config=snakemake.params.space,
    settings=snakemake.params.settings,
    study_seed=snakemake.params.seed,
    round_index=int(snakemake.wildcards.round),
    trial_ids=snakemake.params.trial_ids,
    previous_round=snakemake.input.get("previous_round"),
    previous_scores=snakemake.input.get("previous_scores", []),
    output=snakemake.output[0],
)

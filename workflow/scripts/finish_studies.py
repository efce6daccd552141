from hpstudy.jobs import setup_logging
from hpstudy.tracking.runs import finish_studies

setup_logging(snakemake.log[0])
inputs, params = snakemake.input, snakemake.params
report = [*inputs.report, inputs.figures]
tests = dict(zip(params.report_artifacts, inputs.tests, strict=True))
finish_studies(
    [
        (
            study,
            tracking,
            trials,
            # The main study of each strategy carries the report and its held-out test.
            [*report, tests[study]] if study in tests else [],
            output,
        )
        for study, tracking, trials, output in zip(
            params.studies, inputs.tracking, inputs.trials, snakemake.output, strict=True
        )
    ],
    verdict=params.verdict,
    setup=params.setup,
    markers=inputs.logged,
)

rule evaluate_test:
    input:
        unpack(test_inputs),
    output:
        "results/{study}/test.json",
    params:
        **job_params(
            objective=STUDY.objective_name,
            settings=STUDY.objective_settings,
            seed=STUDY.seed,
        ),
    threads: job_threads("test")
    resources:
        **job_resources("test"),
    conda:
        "../../envs/train.yaml"
    log:
        "results/logs/{study}/evaluate_test.log",
    shell:
        launch("evaluate_test")


# A few seconds of pandas and matplotlib: not worth a cluster job.
localrules:
    report,


rule report:
    input:
        trials=expand("results/{strategy}/trials.csv", strategy=STUDY.strategies),
        timings=expand("results/{strategy}/timings.csv", strategy=STUDY.strategies),
        tests=expand("results/{strategy}/test.json", strategy=STUDY.strategies),
        repeats=[path for paths in repeat_trials().values() for path in paths],
    output:
        html=report(
            "results/report/index.html",
            caption="../report/index.rst",
            category="Report",
        ),
        table=report(
            "results/report/comparison.csv",
            caption="../report/comparison.rst",
            category="Report",
        ),
        training_time=report(
            "results/report/training_time.csv",
            caption="../report/training_time.rst",
            category="Report",
        ),
        repeats=report(
            "results/report/repeats.csv",
            caption="../report/repeats.rst",
            category="Report",
        ),
        figures=report(
            directory("results/report/figures"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
        ),
    params:
        **job_params(
            experiment=STUDY.config["experiment"],
            strategies=STUDY.strategies,
            space=STUDY.config["space"],
            margin=STUDY.config["report"]["margin"],
            repeats=repeat_trials(),
            fold_metric=STUDY.objective.fold_metric,
        ),
    conda:
        "../../envs/report.yaml"
    log:
        "results/logs/report.log",
    shell:
        launch("report")

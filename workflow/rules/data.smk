rule prepare_data:
    output:
        x=DATA["x"],
        y=DATA["y"],
        folds=DATA["folds"],
        metadata=DATA["metadata"],
    params:
        **job_params(
            dataset=PLAN.config.get("dataset"),  # None: an objective without data
            cv=PLAN.config["cv"],
        ),
    resources:
        **job_resources("data"),
    conda:
        "../../envs/data.yaml"
    log:
        "results/logs/prepare_data.log",
    shell:
        launch("prepare_data")

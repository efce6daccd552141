rule prepare_data:
    output:
        x=DATA["x"],
        y=DATA["y"],
        folds=DATA["folds"],
        metadata=DATA["metadata"],
    params:
        dataset=STUDY.config["dataset"],
        cv=STUDY.config["cv"],
    resources:
        **job_resources("data"),
    conda:
        "../../envs/data.yaml"
    log:
        "results/logs/prepare_data.log",
    script:
        "../scripts/prepare_data.py"

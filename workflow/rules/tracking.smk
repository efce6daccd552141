# MLflow: the DB is created once (init_tracking) before anything is logged; each study's
# parent run is made by its own job (start_study; per_study: by its strategy's
# log_studies_<strategy>);
# each trial is logged as soon as it is scored, by the job that scores it (per_fold,
# per_trial: study.smk; a trial it could not log, finish_studies logs) or by its round's
# job (log_round, log_studies_<strategy>); a study's parent run is closed once the report
# exists (finish_studies, one job for all).
#
# On a cluster these jobs run where Snakemake runs (the login node), not as cluster jobs:
# they are seconds each, that node reaches the team's tracking server, and the default
# sqlite DB stays on one machine (sqlite's locks are not safe on network file systems).

from hpstudy.tracking.notes import experiment_setup


localrules:
    init_tracking,
    finish_studies,


# init_tracking and start_study as soon as they can run: a trial's scoring job waits for its
# study's run (it logs the trial into it). Snakemake runs the ready job of highest priority
# first.
TRACKING_PRIORITY = 1


rule init_tracking:
    output:
        TRACKING,
    priority: TRACKING_PRIORITY
    params:
        **job_params(
            experiment=PLAN.config["experiment"],
            # The experiment's description: only what every study's results depend on, so
            # that no change reruns this job without rerunning every study anyway (its rerun
            # restarts them all). The strategies and their seeds: finish_studies.
            setup=experiment_setup(PLAN, strategies=False),
            tracking_uri=TRACKING_URI_REDACTED,
        ),
    conda:
        "../../envs/tracking.yaml"
    log:
        "results/logs/init_tracking.log",
    shell:
        launch("init_tracking")


# per_study: its strategy's log_studies_<strategy> job starts the study run.
if not PER_STUDY:

    rule start_study:
        localrule: True
        input:
            experiment=TRACKING,
        output:
            study_tracking("{study}"),
        priority: TRACKING_PRIORITY
        params:
            **job_params(
                strategy=lambda w: PLAN.strategy_of(w.study),
                # Only what this study's results depend on: another strategy's change
                # keeps its runs. Seed and budget follow from it (the run's description).
                study_hash=lambda w: PLAN.study_hash(w.study),
                seed=lambda w: PLAN.study_seed(w.study),
                budget=lambda w: PLAN.budget(w.study),
                tracking_uri=TRACKING_URI_REDACTED,
            ),
        conda:
            "../../envs/tracking.yaml"
        log:
            "results/logs/{study}/start_study.log",
        shell:
            launch("start_study")


# execution.fold_jobs: per_round: a round's trials, logged by one job as its results come.
if not PER_STUDY:

    rule log_round:
        input:
            unpack(log_round_inputs),
        output:
            round_logged("{study}", "{round}"),
        params:
            **job_params(
                strategy=lambda w: PLAN.strategy_of(w.study),
                tracking_uri=TRACKING_URI_REDACTED,
            ),
        localrule: True
        conda:
            "../../envs/tracking.yaml"
        log:
            "results/logs/{study}/log_round_{round}.log",
        shell:
            launch("log_round")

else:
    # execution.fold_jobs: per_study: a strategy's study runs started and their trials logged
    # by one job once its studies are all in. One job per strategy, not per study: each job
    # cost ~0.1 CPU s of start-up and Snakemake besides its logging (70 per benchmark of
    # the suite), and a strategy's studies change together (a change of its settings
    # reruns them all). Its outputs: every round's marker of each study, and the study runs
    # (start_study's outputs: a job fewer per study).
    for strategy_name in PLAN.strategies:
        logged_studies = PLAN.repeat_studies(strategy_name)
        logged_rounds = range(len(PLAN.rounds(strategy_name)))

        rule:
            name:
                f"log_studies_{strategy_name}"
            input:
                **log_studies_inputs(strategy_name),
            output:
                tracking=[study_tracking(s) for s in logged_studies],
                markers=[round_logged(s, r) for s in logged_studies for r in logged_rounds],
            params:
                **job_params(
                    strategy=strategy_name,
                    # Each study's description; its hash keys its runs (study_key).
                    studies=[
                        {
                            "study": s,
                            "study_hash": PLAN.study_hash(s),
                            "seed": PLAN.study_seed(s),
                            "budget": PLAN.budget(s),
                        }
                        for s in logged_studies
                    ],
                    tracking_uri=TRACKING_URI_REDACTED,
                ),
            localrule: True
            conda:
                "../../envs/tracking.yaml"
            log:
                f"results/logs/log_studies_{strategy_name}.log",
            shell:
                launch("log_studies")


# Every study run closed by one job: they all wait for the one report anyway, and a job per
# study cost ~0.2 CPU s of start-up and Snakemake each (70 per benchmark of the suite).
rule finish_studies:
    input:
        tracking=[study_tracking(study) for study in PLAN.studies],
        trials=[trials_table(study) for study in PLAN.studies],
        logged=[path for study in PLAN.studies for path in study_logs(study)],
        report=[REPORT[key] for key in ("html", "table", "training_time", "repeats", "verdict")],
        figures=REPORT["figures"],
        # The held-out test belongs to the main study of each strategy, not to its repeats.
        tests=[test_result(study) for study in PLAN.studies if PLAN.repeat_of(study) == 0],
    output:
        [study_logged(study) for study in PLAN.studies],
    params:
        **job_params(
            studies=PLAN.studies,
            # The report's verdict sentences about a study's strategy go into the study
            # run's description (a verdict without this strategy leaves it without one).
            verdict=REPORT["verdict"],
            # The experiment's description, now with the strategies and their seeds: what
            # changes it changes the report, which reruns this job anyway.
            setup=experiment_setup(PLAN),
            # The report is the experiment's, one for all studies: its files go onto each
            # strategy's main study run, not onto every repeat's (with 7 strategies x 10
            # seeds, 70 copies of 42 figures: 300 MB and a third of this job's CPU).
            report_artifacts=[s for s in PLAN.studies if PLAN.repeat_of(s) == 0],
            tracking_uri=TRACKING_URI_REDACTED,
        ),
    conda:
        "../../envs/tracking.yaml"
    log:
        "results/logs/finish_studies.log",
    shell:
        launch("finish_studies")

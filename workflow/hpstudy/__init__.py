"""hpstudy: the logic behind the hyperparameter-study workflow.

One module per concern; the scripts in workflow/scripts/ only adapt a job's files and params
to these calls:

- config: load and validate a config (schema, then checks that name the key);
- config_reference: the schema rendered as docs/config-reference.md (every setting);
- plan: what follows from it (studies, repeats, budgets, rounds, seeds, hashes, resources);
- paths: every file of results/, named once;
- space, seeds: the search space, its checks and its values; seeds derived from the study seed;
- strategies/: one module per search strategy behind strategies.base.Strategy, found by a
  registry; objectives/: the same for objectives (objectives.base.Objective);
- data: load, subset, normalise and split the data; jobs: what each kind of job does;
  outcome: a fold's outcome (ok, diverged, failed: which errors fail a trial) and its
  fit's measured time; records: a study's scores and timings read back, as trials.csv and
  timings.csv;
- tracking: MLflow; report/: tables, statistics, figures and the HTML page;
- launch, worker, noise: how jobs start (forked from a warm interpreter, or fresh);
- fileio: atomic writes.

What the Snakefile imports (config, plan, paths, space, seeds and the two registries) imports
nothing heavy: TensorFlow, hyperopt and scikit-optimize are imported inside the jobs that
need them.
"""

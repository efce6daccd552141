"""hpstudy: the logic behind the hyperparameter-study workflow.

One module per concern; the scripts in workflow/scripts/ only adapt a job's files and params
to these calls. Every module and subpackage, a line each, with what it owns:

- config: load and validate a config (schema, then checks that name the key)
- config_reference: the schema rendered as docs/config-reference.md (every setting)
- plan: the Plan, what follows from a config (studies, repeats, budgets, rounds, seeds,
  hashes, resources)
- preflight: what is checked when the Snakefile is parsed, before any job (config, data)
- paths: every file of results/, named once
- space: the search space, its checks and its values; the domains of the settings it sets
- seeds: seeds derived from the study seed
- strategies/: one module per search strategy behind strategies.base.Strategy, found by a
  registry
- objectives/: the same for objectives (objectives.base.Objective)
- formats: the file formats of local data (IDX files, .npz archives)
- data: load, subset, normalise and split the data
- jobs: what each kind of job does, a function each
- outcome: a fold's outcome (ok, diverged, failed: which errors fail a trial) and its fit's
  measured time
- records: a study's scores and timings read back, as trials.csv and timings.csv
- provenance: the git commit and the package versions behind the results
- tracking/: MLflow: the runs, one per study and one per trial (runs); MLflow's client
  (client: where it writes, retries, runs by key, batched writes); what its UI shows beyond
  the numbers (notes)
- report/: tables, statistics, figures and the HTML page; the benchmark suite's report
- suite: a benchmark suite's study configs, one ordinary study per benchmark
- progress: progress at a glance (`make status`)
- launch: how a job starts (forked from the warm worker, or fresh)
- worker: the warm worker, which imports the heavy libraries once and forks each job
- noise: TensorFlow's start-up lines, kept off the console
- snakemake_overhead: Snakemake's own cost per job (its scheduler's passes, the signatures
  of the rules' functions)
- fileio: atomic writes

What the Snakefile imports (config, plan, paths, space, seeds and the two registries) imports
nothing heavy: TensorFlow, hyperopt and scikit-optimize are imported inside the jobs that
need them.
"""

"""hpstudy: the logic behind the hyperparameter-study workflow.

One module per concern; the Snakemake scripts only adapt Snakemake's objects to these calls.
Modules imported by the Snakefile (config, space, plan, seeds) import nothing heavy:
TensorFlow, hyperopt and scikit-optimize are imported only inside the jobs that need them.
"""

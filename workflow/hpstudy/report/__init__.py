"""The comparison report: figures (matplotlib) and tables (pandas) across strategies.

`build_report` writes into one directory (atomically, via `hpstudy.fileio`):

- per strategy: `<strategy>_objective.png`, `<strategy>_best_so_far.png`,
  `<strategy>_parameters.png`, `<strategy>_cv_folds.png` (when the table has fold columns),
  `<strategy>_space.png` (when the space has two or more parameters);
- across strategies: `best_so_far.png`, `best_so_far_time.png`, `comparison.csv`,
  `training_time.csv`, with a fidelity (epochs) `best_so_far_resource.png`, and with
  held-out test results `cv_vs_test.png`;
- with repeated studies (several seeds per strategy): `repeats_best_so_far.png`, and
  `repeats.csv` (always; only its header without repeats);
- `index.html`: every figure embedded as a data URI and every table inline, so the page opens
  offline on its own.

One module per concern: tables (trials.csv read in, best-so-far, the comparison and
training-time tables), stats (repeated studies, Wilcoxon tests), axes (parameter axes from
`hpstudy.space`), plotting (what figures share), figures (per strategy),
comparison_figures (across strategies), captions (workflow/report/*.rst, shared with
`snakemake --report`), page (the HTML page, templates/index.html.j2) and build (assembling).

Every figure function returns a matplotlib `Figure` (never shown, never registered with pyplot)
so that tests can inspect what was drawn; `build_report` renders them with the Agg backend.
The same inputs give the same bytes: PNGs carry no Software/date metadata, the page no
timestamp, and every order (strategies, parameters, trials) comes from the inputs.
Conventions (trial numbers, best-so-far): see `hpstudy.report.tables`.
"""

from hpstudy.report.axes import ParamAxis, parameter_axes
from hpstudy.report.build import build_report, make_figures
from hpstudy.report.captions import figure_captions, figure_kind, table_caption
from hpstudy.report.comparison_figures import (
    best_so_far_figure,
    best_so_far_resource_figure,
    best_so_far_time_figure,
    cv_vs_test_figure,
    repeats_figure,
)
from hpstudy.report.figures import (
    N_BEST,
    N_BLOCKS,
    block_size,
    cv_folds_figure,
    grid_mesh,
    objective_figure,
    parameters_figure,
    space_figure,
    strategy_best_so_far_figure,
)
from hpstudy.report.page import html_table, render_html
from hpstudy.report.plotting import (
    BEST_LABEL,
    COLOURMAP,
    OBJECTIVE_LABEL,
    objective_norm,
    render_png,
    strategy_colour,
)
from hpstudy.report.stats import (
    REFERENCE,
    REPEATS_COLUMNS,
    paired_wilcoxon,
    repeat_curves,
    repeats_table,
)
from hpstudy.report.tables import (
    best_so_far,
    comparison_table,
    fold_columns,
    load_trials,
    ok_mask,
    overall_best,
    result_mask,
    training_time_table,
    trial_numbers,
    trials_to_margin,
)

__all__ = [
    "BEST_LABEL", "COLOURMAP", "N_BEST", "N_BLOCKS", "OBJECTIVE_LABEL", "REFERENCE",
    "REPEATS_COLUMNS", "ParamAxis", "best_so_far", "best_so_far_figure",
    "best_so_far_resource_figure", "best_so_far_time_figure", "block_size", "build_report",
    "comparison_table",
    "cv_folds_figure", "cv_vs_test_figure", "figure_captions", "figure_kind", "fold_columns",
    "grid_mesh", "html_table", "load_trials", "make_figures", "objective_figure",
    "objective_norm", "ok_mask", "overall_best", "result_mask", "paired_wilcoxon", "parameter_axes",
    "parameters_figure", "render_html", "render_png", "repeat_curves", "repeats_figure",
    "repeats_table", "space_figure", "strategy_best_so_far_figure", "strategy_colour",
    "table_caption", "training_time_table", "trial_numbers", "trials_to_margin",
]

"""build_report (hpstudy.report.build): the page it writes is self-contained and the same
bytes in a fresh interpreter, and the workflow's call without a space still works."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hpstudy import report
from hpstudy.report import captions
from hpstudy.space import SearchSpace
from tests.helpers.synthetic_trials import BRANIN_SPACE, timings_of
from tests.helpers.workdir import REPO

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # skopt: repeated points

BUILD = """
import json, sys
from hpstudy.report import build_report
from hpstudy.space import SearchSpace
args = json.loads(sys.argv[1])
space = SearchSpace.from_config(args.pop("space"))
print(json.dumps(build_report(space=space, **args)))
"""


def test_index_html_is_self_contained_and_deterministic(branin_tables, tmp_path):
    args = {"experiment": "branin <study>", "trials_paths": branin_tables["paths"],
            "timings_paths": timings_of(branin_tables["paths"]),
            "repeats": branin_tables["repeats"],
            "test_results": {"gp": {"strategy": "gp", "trial": 3, "params": {},
                                    "cv_objective": 1.0, "test_objective": 1.2,
                                    "status": "ok"}}}
    first = report.build_report(out_dir=str(tmp_path / "one"),
                                space=SearchSpace.from_config(BRANIN_SPACE), **args)
    # Again in a fresh interpreter with another hash seed: same bytes.
    env = {**os.environ, "PYTHONHASHSEED": "123", "PYTHONPATH": str(REPO / "workflow")}
    run = subprocess.run([sys.executable, "-c", BUILD,
                          json.dumps({**args, "space": BRANIN_SPACE,
                                      "out_dir": str(tmp_path / "two")})],
                         capture_output=True, text=True, env=env, check=True)
    second = json.loads(run.stdout)

    names = ["best_so_far", "best_so_far_time", "cv_vs_test", "repeats_best_so_far",
             "importance", "slices", "objective_edf"] + [
        f"{s}_{kind}" for s in branin_tables["paths"]
        for kind in ("objective", "best_so_far", "parameters", "cv_folds", "space")]
    assert list(first["figures"]) == names == list(second["figures"])
    assert sorted(p.name for p in (tmp_path / "one").glob("*.png")) == sorted(
        f"{n}.png" for n in names)
    page = Path(first["html"]).read_text(encoding="utf-8")
    assert Path(first["html"]).read_bytes() == Path(second["html"]).read_bytes()
    for name in names:
        png = Path(first["figures"][name]).read_bytes()
        assert png == Path(second["figures"][name]).read_bytes(), name
        assert png.startswith(b"\x89PNG")
        assert f'src="data:image/png;base64,{base64.b64encode(png).decode()}"' in page
        caption = captions.figure_caption(name, list(branin_tables["paths"]))
        assert first["captions"][name] == captions.plain(caption)
        assert f"<figcaption>{captions.to_html(caption)}</figcaption>" in page
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page and "url(" not in page
    assert page.count("<img ") == len(names) and page.count('src="data:') == len(names)
    assert "branin &lt;study&gt;" in page
    for heading in ("Strategies compared", "Repeated studies", "Per strategy"):
        assert f"<h2>{heading}</h2>" in page
    # The verdict opens the page, then what mattered comes after the comparisons.
    order = ['<h2 id="verdict">', "<h2>Strategies compared</h2>", '<h2 id="importance">',
             "<h2>Per strategy</h2>"]
    assert [page.index(heading) for heading in order] == sorted(
        page.index(heading) for heading in order)
    # The seeds' figure follows the verdict, before anything of one seed; and the
    # per-strategy figures say they are seed 0's.
    assert page.index('<h2 id="verdict">') < page.index('<figure id="repeats_best_so_far">') \
        < page.index("<h2>Strategies compared</h2>")
    assert "Seed 0 of each strategy only" in page
    # verdict, comparison, training time, repeats and importance, inline (no setup given)
    assert page.count("<table") == 5
    # The tables' captions of snakemake --report (resource.csv's: a multi-fidelity study's).
    for table in set(captions.TABLES) - {"resource"}:
        for paragraph in captions.table_caption(table):
            assert f"<p>{captions.to_html(paragraph)}</p>" in page
    assert set(first["tables"]) == {"comparison", "training_time", "repeats", "verdict",
                                    "importance", "resource"}
    for table in ("verdict", "importance"):
        assert Path(first["tables"][table]).read_bytes() == Path(
            second["tables"][table]).read_bytes()


def test_workflow_call_without_space_still_works(branin_tables, tmp_path):
    """experiment, trials_paths and out_dir only: the parameters are read off trials.csv."""
    written = report.build_report(experiment="b", trials_paths=branin_tables["paths"],
                                  out_dir=str(tmp_path))
    assert {"best_so_far", "grid_space"} <= set(written["figures"])
    assert (tmp_path / "comparison.csv").exists() and (tmp_path / "best_so_far.png").exists()
    # Without repeats, repeats.csv is still written (a declared output): only its header.
    assert (tmp_path / "repeats.csv").read_text().splitlines() == [",".join(
        report.REPEATS_COLUMNS)]
    table = pd.read_csv(tmp_path / "comparison.csv")
    assert {"x", "y"} <= set(table.columns)
    with pytest.raises(ValueError, match="margin"):
        report.build_report(experiment="b", trials_paths=branin_tables["paths"],
                            out_dir=str(tmp_path), margin=-1.0)


def test_comparison_figures_leave_out_each_strategys_own(branin_tables, tmp_path):
    """report.figures: comparison draws the figures across strategies only, and the page has
    no per-strategy section; the tables are the same as with every figure."""
    full = report.build_report(experiment="b", trials_paths=branin_tables["paths"],
                               out_dir=str(tmp_path / "all"))
    short = report.build_report(experiment="b", trials_paths=branin_tables["paths"],
                                out_dir=str(tmp_path / "comparison"), figures="comparison")
    strategies = list(branin_tables["paths"])
    own = {name for name in full["figures"] if name.split("_")[0] in strategies}
    assert own and "grid_space" in own
    assert set(short["figures"]) == set(full["figures"]) - own
    assert {"best_so_far", "slices", "objective_edf"} <= set(short["figures"])
    assert sorted(Path(tmp_path / "comparison").glob("*.png")) == sorted(
        tmp_path / "comparison" / f"{name}.png" for name in short["figures"])
    page = (tmp_path / "comparison" / "index.html").read_text()
    assert "Per strategy" not in page and "Per strategy" in (
        tmp_path / "all" / "index.html").read_text()
    for table in ("comparison", "verdict", "importance"):
        assert Path(short["tables"][table]).read_bytes() == Path(
            full["tables"][table]).read_bytes()
    with pytest.raises(ValueError, match="figures must be 'all' or 'comparison', not 'some'"):
        report.build_report(experiment="b", trials_paths=branin_tables["paths"],
                            out_dir=str(tmp_path / "bad"), figures="some")

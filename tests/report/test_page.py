"""The report's page and captions (hpstudy.report.page, captions): the Jinja2 template
escapes user text, and the captions are those of snakemake --report."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pandas as pd
import pytest

from hpstudy import report
from hpstudy.report import captions, page
from tests.helpers.workdir import REPO


def test_page_template_renders_escaped(tmp_path):
    """The page comes from the package's Jinja2 template, autoescaped: user text (experiment,
    strategy names) is escaped, tables and captions keep their own markup."""
    env = page.environment()
    assert env.autoescape is True
    assert (page.TEMPLATES / "index.html.j2").is_file()
    assert page.TEMPLATES.parent == Path(report.__file__).parent
    comparison = pd.DataFrame({"strategy": ["<b>x</b>"], "best_objective": [1 / 3],
                               "trials_to_margin": pd.array([None], dtype="Int64")})
    png = b"\x89PNG fake"
    text = page.render_html("exp <1> & 'two'", ["<b>x</b>"], {"<b>x</b>_objective": png},
                            {"<b>x</b>_objective": "see ``a<b``"}, comparison, 0.25)
    assert "<title>exp &lt;1&gt; &amp; &#39;two&#39;</title>" in text
    assert "<h1>Hyperparameter study: exp &lt;1&gt; &amp; &#39;two&#39;</h1>" in text
    assert "<h3>&lt;b&gt;x&lt;/b&gt;</h3>" in text and "<b>x</b>" not in text
    assert '<figure id="&lt;b&gt;x&lt;/b&gt;_objective">' in text
    assert f'src="data:image/png;base64,{base64.b64encode(png).decode()}"' in text
    assert "<figcaption>see <code>a&lt;b</code></figcaption>" in text
    assert "<td>0.333</td>" in text and "<td></td>" in text  # html_table's cells: 3 digits
    assert "The margin of this study: 0.25." in text
    assert "<h2>Strategies compared</h2>" in text and "Repeated studies" not in text
    assert text.count("<table") == 1 and text.endswith("</body></html>\n")


def test_captions_are_the_snakemake_report_captions():
    """The page's captions are read from the .rst files that workflow/rules/report.smk names
    as captions, and those stay valid for snakemake --report (a Jinja2 template, then
    reStructuredText)."""
    import jinja2
    from docutils.core import publish_parts

    rules = (REPO / "workflow" / "rules" / "report.smk").read_text(encoding="utf-8")
    named = {Path(path).stem for path in re.findall(r'caption="\.\./report/(\w+\.rst)"', rules)}
    assert named == {*captions.TABLES, "figures", "index"}
    assert captions.CAPTION_DIR == REPO / "workflow" / "report"
    for name in named:
        text = captions.read_caption(name)
        assert jinja2.Environment().from_string(text).render() == text.rstrip("\n")
        publish_parts(text, writer="html",
                      settings_overrides={"halt_level": 2, "report_level": 2})
        for paragraph in captions.paragraphs(text):
            # Only ``literals`` for markup: the page renders no other reStructuredText.
            assert not re.search(r"[`*|]", re.sub(r"``[^`]+``", "", paragraph)), paragraph
    figures = captions.figure_captions()
    kinds = ("objective", "best_so_far", "parameters", "cv_folds", "space")
    assert list(figures) == ["best_so_far", "best_so_far_time", "best_so_far_resource",
                             "cv_vs_test",
                             "repeats_best_so_far", "importance", "slices", "objective_edf",
                             *(f"<strategy>_{kind}" for kind in kinds)]
    for key, caption in figures.items():
        assert f"``{key}``\n    {caption[:40]}" in captions.read_caption("figures")
    assert captions.figure_kind("gp_best_so_far", ["gp", "tpe"]) == "<strategy>_best_so_far"
    assert captions.figure_kind("tpe_x_space", ["tpe", "tpe_x"]) == "<strategy>_space"
    assert captions.figure_kind("best_so_far", ["best"]) == "best_so_far"
    with pytest.raises(KeyError):
        captions.figure_kind("gp_unknown", ["gp"])
    assert f"against {report.REFERENCE} search" in " ".join(captions.table_caption("repeats"))
    assert captions.plain("see ``x_y``") == "see x_y"

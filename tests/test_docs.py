"""The documentation: README.md and docs/*.md.

- docs/config-reference.md is generated from the config schema (hpstudy.config_reference):
  it must be what the generator writes now, so an edited schema cannot leave it stale.
- Every relative link of README.md and docs/*.md leads to a file that exists and, with an
  #anchor into a markdown page, to one of that page's headings (GitHub's anchors).
- The package's docstring (workflow/hpstudy/__init__.py) lists every module and subpackage.
"""

from __future__ import annotations

import pkgutil
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

import hpstudy
from hpstudy import config_reference
from tests.helpers.workdir import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
REFERENCE = REPO / "docs" / "config-reference.md"
# [text](target) and [text](target "title"); images too. Not inside code (stripped first).
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`+[^`]*`+")


def _prose(text: str) -> str:
    """The text without fenced blocks and code spans, where a [x](y) is not a link."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: markup dropped, lower case, punctuation removed, spaces
    to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for line in FENCE.sub("", page.read_text(encoding="utf-8")).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        anchor = _anchor(match.group(1))
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        anchors.add(anchor if count == 0 else f"{anchor}-{count}")
    return anchors


def _links(page: Path) -> list[str]:
    return LINK.findall(_prose(page.read_text(encoding="utf-8")))


def test_the_configuration_reference_is_generated_from_the_schema():
    assert REFERENCE.is_file(), (
        "docs/config-reference.md is missing: run `make docs-reference` "
        "(PYTHONPATH=workflow python -m hpstudy.config_reference > docs/config-reference.md)")
    assert REFERENCE.read_text(encoding="utf-8") == config_reference.render(), (
        "docs/config-reference.md differs from the config schema: run `make docs-reference` "
        "(PYTHONPATH=workflow python -m hpstudy.config_reference > docs/config-reference.md) "
        "and commit the result")


def test_the_configuration_reference_has_a_row_per_setting():
    """Every property of the schema, nested ones included, is a row of the page."""
    from hpstudy.config import load_schema

    schema = load_schema()
    text = REFERENCE.read_text(encoding="utf-8")

    def keys(prefix, spec):
        spec = config_reference._resolve(spec, schema)
        for name, child in spec.get("properties", {}).items():
            key = f"{prefix}.{name}" if prefix else name
            yield key
            yield from keys(key, child)

    missing = [key for key in keys("", schema) if f"| `{key}` |" not in text]
    assert not missing
    assert "| `objective.cnn.learning_rate` | number (> 0) | `0.01` |" in text
    assert "| `space.<name>.type` |" in text


def test_the_readme_stays_a_front_door_with_a_map_of_the_docs():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    linked = {Path(link.split("#")[0]).name for link in _links(REPO / "README.md")
              if link.startswith("docs/")}
    pages = {page.name for page in (REPO / "docs").glob("*.md")}
    assert pages <= linked, f"docs pages the README does not link: {sorted(pages - linked)}"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_every_relative_link_leads_somewhere(page):
    broken = []
    for link in _links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", link) or link.startswith("//"):
            continue  # http:, https:, mailto: ...
        path, _, anchor = link.partition("#")
        target = (page.parent / unquote(path)).resolve() if path else page
        if not target.exists():
            broken.append(f"{link}: no file {target}")
        elif anchor and target.suffix == ".md" and unquote(anchor) not in _anchors(target):
            broken.append(f"{link}: no heading with anchor #{anchor} in {target.name}")
    assert not broken, f"{page.relative_to(REPO)}: " + "; ".join(broken)


def test_the_package_docstring_lists_every_module_and_subpackage():
    """A line `- name: what it owns` per module, `- name/: ...` per subpackage; nothing else
    named there."""
    listed = re.findall(r"^- (\w+/?):", hpstudy.__doc__, re.MULTILINE)
    present = [info.name + ("/" if info.ispkg else "")
               for info in pkgutil.iter_modules(hpstudy.__path__)]
    assert sorted(listed) == sorted(present)


def test_the_own_model_walk_through_is_the_example_the_end_to_end_tier_runs():
    """docs/own-model.md's first section is what a new user follows: its train.py, config
    and command are examples/sklearn_digits' (train.py after its docstring; the config's
    blocks, which the example completes with experiment, seed and tracking), so the run of
    that example in tests/test_examples.py is the run of the page."""
    import yaml

    page = (REPO / "docs" / "own-model.md").read_text(encoding="utf-8")
    section = page.split("## A function", 1)[1].split("\n## ", 1)[0]
    blocks = dict(re.findall(r"^```(\w+)\n(.*?)^```", section, re.MULTILINE | re.DOTALL))
    example = REPO / "examples" / "sklearn_digits"
    code = (example / "train.py").read_text(encoding="utf-8")
    assert code.endswith(blocks["python"]) and '"""' in code[:-len(blocks["python"])]
    config = yaml.safe_load((example / "config.yaml").read_text(encoding="utf-8"))
    shown = yaml.safe_load(blocks["yaml"])
    assert {key: config[key] for key in shown} == shown
    assert set(config) - set(shown) == {"experiment", "seed", "tracking"}
    command = blocks["bash"].strip()
    assert command.startswith("snakemake ") and command in \
        (example / "config.yaml").read_text(encoding="utf-8")

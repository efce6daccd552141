"""The captions, written once: workflow/report/*.rst are the captions of `snakemake --report`
(the `caption=` of workflow/rules/report.smk) and the HTML page shows the same texts.

figures.rst: an introduction, then a definition list with one caption per figure, each under
its PNG's stem in double backquotes; ``<strategy>`` stands for each strategy's name
(``<strategy>_space``). comparison.rst, training_time.rst and repeats.rst caption a table
each, index.rst the page. The captions use plain paragraphs, that definition list and
``inline literals`` only: the page renders them itself (a literal as <code>). Snakemake
renders a caption as a Jinja2 template before reading it as reStructuredText, so none holds
Jinja2 syntax.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path

from markupsafe import Markup, escape

CAPTION_DIR = Path(__file__).resolve().parents[2] / "report"  # workflow/report/
STRATEGY = "<strategy>"  # in figures.rst: a figure that each strategy has
TABLES = ("comparison", "training_time", "repeats", "verdict", "importance", "resource")
_LITERAL = re.compile(r"``([^`]+)``")
_TERM = re.compile(r"``([^`\s]+)``")


@functools.cache
def read_caption(name: str) -> str:
    """The text of workflow/report/<name>.rst."""
    return (CAPTION_DIR / f"{name}.rst").read_text(encoding="utf-8")


def paragraphs(text: str) -> list[str]:
    """The paragraphs of a caption, each on one line."""
    blocks = re.split(r"\n\s*\n", text.strip())
    return [" ".join(line.strip() for line in block.splitlines()) for block in blocks if block]


def table_caption(name: str) -> list[str]:
    """The paragraphs of a table's caption (`name` in TABLES), as reStructuredText."""
    return paragraphs(read_caption(name))


@functools.cache
def figure_captions() -> dict[str, str]:
    """{figure stem or <strategy>_<kind>: caption as reStructuredText}, from the definition
    list of figures.rst, in its order."""
    captions: dict[str, list[str]] = {}
    term = None
    for line in read_caption("figures").splitlines():
        match = _TERM.fullmatch(line)
        if match:
            term = match.group(1)
            captions[term] = []
        elif term is not None and line[:1].isspace() and line.strip():
            captions[term].append(line.strip())
        elif line.strip():
            term = None  # a paragraph outside the list
    found = {name: " ".join(lines) for name, lines in captions.items()}
    empty = [name for name, text in found.items() if not text]
    if not found or empty:
        raise ValueError(f"{CAPTION_DIR / 'figures.rst'}: no caption for "
                         f"{', '.join(empty) or 'any figure'}")
    return found


def figure_kind(name: str, strategies: Sequence[str]) -> str:
    """The caption key of a figure name ("tpe_space" -> "<strategy>_space")."""
    captions = figure_captions()
    if name in captions:
        return name
    for strategy in sorted(strategies, key=len, reverse=True):
        if name.startswith(f"{strategy}_"):
            kind = f"{STRATEGY}_{name[len(strategy) + 1:]}"
            if kind in captions:
                return kind
    raise KeyError(name)


def figure_caption(name: str, strategies: Sequence[str]) -> str:
    """The caption of a figure, as reStructuredText."""
    return figure_captions()[figure_kind(name, strategies)]


def plain(text: str) -> str:
    """A caption as plain text: inline literals without their backquotes."""
    return _LITERAL.sub(r"\1", text)


def to_html(text: str) -> Markup:
    """A caption as HTML: escaped, inline literals as <code>."""
    parts = _LITERAL.split(text)  # text, literal, text, literal, ..., text
    return Markup("").join(Markup("<code>{}</code>").format(part) if i % 2 else escape(part)
                           for i, part in enumerate(parts))

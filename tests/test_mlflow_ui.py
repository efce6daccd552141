"""MLflow's UI as the user sees it: a finished study run by the real workflow, the real
MLflow server on its sqlite DB (`mlflow ui` is `mlflow server` under another name), and the
page that `make ui` points at loaded in a real browser (headless Chromium).

The study is the session's `tracked_study` (tests/conftest.py); the server reads a copy of its
store, so that nothing the server writes reaches the shared study.

MLflow 3.17's UI opens an experiment on its GenAI overview (trace usage, all zeros for a
study) unless the URL asks for model training; results/tracking/experiment.json holds the
URL path that does (`ui_path`, hpstudy.tracking.notes)."""

from __future__ import annotations

import html
import re
import shutil
import subprocess

import pytest

from hpstudy import fileio
from tests.helpers.tracking import running_mlflow_server

CHROMIUM = shutil.which("chromium")
# Words of the GenAI overview that a model-training experiment must not open on.
GENAI_OVERVIEW = ("Token Usage", "No data available for the selected time range")


def page_text(url: str, profile) -> str:
    """The text of the page once its scripts have run: Chromium's DOM after up to 30 s of the
    page's own (virtual) time, without scripts and styles. A fresh profile each time: no
    choice stored by an earlier visit (the UI keeps GenAI or model training per browser)."""
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={profile}", "--virtual-time-budget=30000", "--dump-dom", url],
        capture_output=True, text=True, timeout=180, check=True).stdout
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", dom)))


@pytest.mark.e2e
@pytest.mark.skipif(CHROMIUM is None, reason="no `chromium` on PATH (Debian package "
                                               "chromium; .ci/run installs it)")
def test_the_ui_opens_the_study_runs_table(tracked_study, tmp_path):
    ui_path = fileio.read_json(tracked_study.results / "tracking" / "experiment.json")["ui_path"]
    server = tmp_path / "server"
    server.mkdir()
    # A finished study's store is one file: its last writer folded the write-ahead log back.
    store = shutil.copy(tracked_study.results / "mlflow.db", server / "mlflow.db")
    with running_mlflow_server(f"sqlite:///{store}", server / "artifacts",
                               server / "server.log") as url:
        # The data arrive after the page's scripts: a machine busy starting the server can
        # take longer than the budget, so a page that shows neither the runs nor the GenAI
        # overview yet is loaded again.
        for attempt in range(3):
            text = page_text(f"{url}/{ui_path}", tmp_path / f"profile{attempt}")
            if "random study" in text or any(words in text for words in GENAI_OVERVIEW):
                break
    shown = f"page text: {text[:3000]}"
    for words in GENAI_OVERVIEW:
        assert words not in text, shown
    assert "Run Name" in text, shown  # the runs table's header
    assert "random study" in text and "tpe study" in text, shown
    assert "Hyperparameter study test-tracking" in text, shown  # the experiment's note

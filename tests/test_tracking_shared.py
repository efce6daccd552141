"""Two studies with different experiment names logging at the same time into one tracking
store: one sqlite file, and one `mlflow server`. Each experiment gets exactly its own run tree
(no run of the other, none twice, none lost)."""

from __future__ import annotations

import copy
import os
import subprocess

import pytest

from tests.helpers.tracking import check_run_tree
from tests.helpers.workdir import REPO, SNAKEMAKE, Workdir, load_config

pytestmark = pytest.mark.e2e  # two workflows at once, each with its own experiment


def _studies(tmp_path, uri: str | None) -> list[tuple[Workdir, dict]]:
    studies = []
    for name in ("alpha", "beta"):
        config = copy.deepcopy(load_config("tracking"))
        config["experiment"] = f"shared-{name}"
        config["seed"] = 5 if name == "alpha" else 6
        if uri is not None:
            config["tracking"] = {"uri": uri}
        study = Workdir(tmp_path / name)
        study.path.mkdir()
        study.write_config(config)
        studies.append((study, config))
    return studies


def _run_together(studies, env: dict | None = None) -> None:
    """Both `snakemake --cores 2` at once, started together."""
    processes = [subprocess.Popen(
        [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(study.path),
         "--cores", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})}) for study, _ in studies]
    outputs = [process.communicate(timeout=900)[0] for process in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-4000:]


def test_two_experiments_share_one_sqlite_file(tmp_path):
    """Both runs create the DB at the same moment: neither's experiment may be lost (a rename
    of the second's fresh DB over the first's did that)."""
    database = tmp_path / "shared" / "mlflow.db"
    uri = f"sqlite:///{database}"
    studies = _studies(tmp_path, uri)
    _run_together(studies)
    for study, config in studies:
        check_run_tree(uri, config, study.results)


@pytest.mark.slow
def test_two_experiments_share_one_tracking_server(tmp_path, mlflow_server):
    studies = _studies(tmp_path, None)
    _run_together(studies, env={"MLFLOW_TRACKING_URI": mlflow_server})
    for study, config in studies:
        check_run_tree(mlflow_server, config, study.results)

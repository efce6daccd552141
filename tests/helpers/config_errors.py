"""The check every "errors before any job" test makes: the Snakefile's pre-flight
(hpstudy.preflight.load_plan) refuses a config with one line per problem, each naming its
key, no traceback, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpstudy.preflight import PreflightError, load_plan


def assert_refused(config: dict, lines: list[str], directory: Path | None = None) -> str:
    """load_plan(config) refuses it with a message that holds a line starting with each of
    `lines` (the "invalid config: " prefix is said once, in front); `directory`, where
    Snakemake would run, stays empty. Returns the message."""
    with pytest.raises(PreflightError) as caught:
        load_plan(config)
    message = str(caught.value)
    rows = [row.strip().removeprefix("invalid config: ") for row in message.splitlines()]
    for line in lines:
        assert any(row.startswith(line.removeprefix("invalid config: ")) for row in rows), \
            message
    assert message.startswith("invalid config: ") and "Traceback" not in message
    if directory is not None:
        assert not list(directory.iterdir())
    return message

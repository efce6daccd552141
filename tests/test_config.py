"""The config: the shipped ones are valid, defaults come from the schema, and the study plan
follows from it. Bad configs (tests/helpers/configs.py) are checked through the Snakefile's
pre-flight, hpstudy.preflight.load_plan, which calls resolve(): tests/test_bad_input.py."""

from __future__ import annotations

import copy
import math

import pytest
import yaml

from hpstudy.config import ConfigError, resolve
from hpstudy.objectives import objective_class
from hpstudy.objectives import registry as objective_registry
from hpstudy.plan import Plan
from hpstudy.strategies import registry
from tests.helpers.workdir import REPO, load_config


def _shipped(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


# The study configs of config/ (the benchmark suites' are not studies: tests/test_suite.py).
SHIPPED = sorted(path for path in (REPO / "config").glob("**/*.yaml")
                 if not path.name.startswith("benchmark_suite"))


def _replaces_config(path) -> bool:
    """Its header says to run it with --replace-workflow-config: Snakemake reads it alone."""
    return (f"--configfile {path.relative_to(REPO).as_posix()} --replace-workflow-config"
            in path.read_text(encoding="utf-8"))


def test_default_and_shipped_configs_are_valid():
    assert {path.stem for path in SHIPPED} >= {"classic_mnist", "fashion_mnist",
                                               "initializers_mlp", "multi_fidelity"}
    configs = [load_config(name) for name in ("default", "branin")]
    for config in [*configs, *(_shipped(path) for path in SHIPPED)]:
        plan = Plan.from_config(config)
        assert set(plan.strategies) <= set(registry())
        assert plan.config["tracking"]["uri"]


@pytest.mark.parametrize("path", SHIPPED, ids=[path.stem for path in SHIPPED])
def test_shipped_configs_resolve_alone_and_set_every_key(path):
    """Each config/*.yaml is a study on its own: it resolves without config.yaml. The ones
    run with a plain --configfile are merged over config.yaml (Snakemake's recursive update);
    docs/usage.md promises they set every key, so nothing of config.yaml (its grid, strategies,
    seeds) leaks into the study they run."""
    from snakemake.utils import update_config

    shipped = _shipped(path)
    alone = resolve(copy.deepcopy(shipped))  # a missing required key fails here
    assert alone["experiment"] == shipped["experiment"]
    if _replaces_config(path):
        return
    merged = load_config("default")
    update_config(merged, copy.deepcopy(shipped))
    assert resolve(merged) == alone, (
        f"{path.name}: keys of config.yaml it leaves unset: "
        f"{sorted(_leaves(load_config('default')) - _leaves(shipped))}")


def _leaves(config, prefix=""):
    """Dotted paths of a nested mapping's non-mapping values."""
    if not isinstance(config, dict):
        return {prefix}
    return set().union(*(_leaves(v, f"{prefix}{k}.") for k, v in config.items())) or {prefix}


def test_defaults_are_filled_only_for_configured_strategies():
    config = load_config("default")
    config["strategies"] = {"tpe": {"budget": 10}}
    plan = Plan.from_config(config)
    assert plan.strategies == ["tpe"]
    assert plan.settings("tpe")["n_startup_jobs"] == 5
    assert plan.settings("tpe")["batch_size"] == 1
    with pytest.raises(ConfigError, match="'gp' is not in config.strategies; configured: tpe"):
        plan.settings("gp")


def test_rounds_cover_every_trial_once_in_order():
    plan = Plan.from_config(load_config("default"))
    for strategy in plan.strategies:
        flat = [t for round_ids in plan.rounds(strategy) for t in round_ids]
        assert flat == list(range(plan.budget(strategy)))
        for trial in flat:
            assert trial in plan.rounds(strategy)[plan.round_of(strategy, trial)]
    assert plan.rounds("random") == [list(range(9))]  # non-adaptive: one round
    assert plan.rounds("tpe")[0] == [0, 1]  # batch_size 2


def test_config_hash_changes_with_any_setting():
    config = load_config("default")
    first = Plan.from_config(config).hash
    config["strategies"]["gp"]["acq_func"] = "LCB"
    assert Plan.from_config(config).hash != first


def test_dataset_classes_default_and_valid_values():
    config = load_config("default")
    assert resolve(config)["dataset"]["classes"] is None  # every class
    config["dataset"]["classes"] = [9, 0]
    assert resolve(config)["dataset"]["classes"] == [9, 0]  # the order is kept: 9 -> class 0


def test_dataset_classes_with_a_path_are_checked_against_the_files_not_the_name():
    # Local files may hold any labels: the Snakefile's pre-flight reads them
    # (hpstudy.data.check_source, tests/test_data_checks.py), resolve() cannot.
    config = load_config("default")
    config["dataset"].update(name="mnist", path="/data/mnist-relabelled", classes=[10, 11])
    assert resolve(config)["dataset"]["classes"] == [10, 11]


def test_job_resources_come_from_config_and_the_objective():
    config = load_config("default")
    config["execution"]["resources"] = {"train": {"mem_mb": 3000}}
    config["objective"]["cnn"].update(threads=2, device="gpu")
    plan = Plan.from_config(config)
    # Given keys override, the rest keep their defaults (runtime 120 for train).
    assert plan.resources("train") == {"runtime": 120, "mem_mb": 3000, "threads": 2, "gpu": 1}
    assert plan.resources("test") == {"runtime": 120, "mem_mb": 2000, "threads": 2, "gpu": 1}
    # Everything else is one thread, no GPU, whatever the objective's settings.
    for kind in ("data", "propose", "light"):
        assert plan.resources(kind)["threads"] == 1
        assert plan.resources(kind)["gpu"] == 0
    assert plan.group == "none"


def test_execution_settings_leave_every_study_hash_alone():
    """How jobs are run (groups, resources) is not what results depend on: changing it must
    not make MLflow runs or results new."""
    config = load_config("default")
    before = {s: Plan.from_config(config).study_hash(s) for s in config["strategies"]}
    config["execution"] = {"fold_jobs": "per_fold", "group": "round",
                           "resources": {"train": {"runtime": 5, "mem_mb": 100}}}
    after = {s: Plan.from_config(config).study_hash(s) for s in config["strategies"]}
    assert after == before


def test_every_default_lives_in_the_schema():
    """The schema is the one place a setting's default is written: a config with only the
    required keys resolves to the schema's defaults, section by section."""
    from hpstudy.config import load_schema, objective_defaults, strategy_defaults

    minimal = {"experiment": "e", "seed": 1, "dataset": {"name": "digits"}, "cv": {"folds": 2},
               "objective": {"name": "cnn"},
               "space": {"learning_rate": {"type": "loguniform", "low": 1.0e-3, "high": 0.1}},
               "strategies": {"random": {}, "tpe": {}}}
    resolved = resolve(minimal)
    properties = load_schema()["properties"]
    assert resolved["repeats"] == properties["repeats"]["default"] == 1
    assert resolved["dataset"]["split_seed"] == 0 and resolved["cv"]["test_fraction"] == 0.2
    assert resolved["execution"]["resources"]["train"] == {"runtime": 120, "mem_mb": 2000}
    assert resolved["tracking"]["uri"] == "sqlite:///results/mlflow.db"
    assert resolved["objective"]["cnn"] == objective_defaults("cnn")
    assert set(resolved["objective"]) == {"name", "cnn"}  # no other objective's defaults
    assert resolved["strategies"] == {"random": strategy_defaults("random"),
                                      "tpe": strategy_defaults("tpe")}
    # A partial block keeps the other defaults of that block.
    partial = resolve({**minimal, "execution": {"resources": {"train": {"runtime": 5}}}})
    assert partial["execution"]["resources"]["train"] == {"runtime": 5, "mem_mb": 2000}
    assert partial["execution"]["resources"]["data"] == {"runtime": 30, "mem_mb": 4000}


# --- a searched setting stays inside the objective's domain ---------------------------------


@pytest.mark.parametrize(("parameter", "message"), [
    ({"type": "uniform", "low": 0.5, "high": 1.5},
     "space.momentum: values up to 1.5 are outside the cnn objective's momentum domain [0, 1)"),
    # The domain holds the values after the transform: 1 - uniform[0, 0.5] reaches 1.
    ({"type": "uniform", "low": 0.0, "high": 0.5, "transform": "complement"},
     "space.momentum: values up to 1.0 are outside the cnn objective's momentum domain [0, 1)"),
])
def test_a_searched_momentum_outside_zero_to_one_is_refused(parameter, message):
    config = load_config("default")
    config["space"]["momentum"] = {**parameter, "grid": 2}
    with pytest.raises(ConfigError) as caught:
        resolve(config)
    assert str(caught.value) == f"invalid config: {message}"


@pytest.mark.parametrize(("objective", "name", "parameter", "message"), [
    ("cnn", "learning_rate", {"type": "uniform", "low": 0.0, "high": 0.1},
     "values down to 0.0 are outside the cnn objective's learning_rate domain (0, inf)"),
    ("cnn", "dropout", {"type": "choice", "choices": [0.0, 0.5, 1.0]},
     "choices [1.0] are outside the cnn objective's dropout domain [0, 1)"),
    ("cnn", "batch_size", {"type": "loguniform", "low": 8, "high": 128},
     "the non-integer values of type loguniform are outside the cnn objective's batch_size "
     "domain integers >= 1"),
    ("mlp", "units", {"type": "int", "low": 0, "high": 64},
     "values down to 0 are outside the mlp objective's units domain integers >= 1"),
    ("mlp", "optimizer", {"type": "choice", "choices": ["sgd", "lbfgs"]},
     "choices ['lbfgs'] are outside the mlp objective's optimizer domain {'sgd', 'adam', "
     "'rmsprop', 'adagrad', 'adadelta', 'adamax', 'nadam'}"),
])
def test_a_searched_setting_outside_its_domain_is_refused_by_key(objective, name, parameter,
                                                                 message):
    config = load_config("default")
    config["objective"] = {"name": objective}
    config["space"] = {name: parameter}
    config["strategies"] = {"random": {"budget": 4}}
    with pytest.raises(ConfigError) as caught:
        resolve(config)
    assert str(caught.value) == f"invalid config: space.{name}: {message}"


@pytest.mark.parametrize("name", [name for name, objective in objective_registry().items()
                                  if objective.tunable])
def test_the_domains_of_tunable_settings_are_those_of_their_schema_block(name):
    """A searched setting accepts what the schema lets its fixed value be."""
    from hpstudy.config import load_schema

    block = load_schema()["properties"]["objective"]["properties"][name]["properties"]
    for setting, domain in objective_class(name).tunable.items():
        spec = block[setting]
        types = spec.get("type", [])
        if "enum" in spec or types == "boolean":
            assert domain.values == tuple(spec.get("enum", (False, True))), setting
            continue
        assert domain.integer == ("integer" in types), setting
        assert (domain.low, domain.open_low) == (
            spec.get("minimum", spec.get("exclusiveMinimum", -math.inf)),
            "exclusiveMinimum" in spec), setting
        assert (domain.high, domain.open_high) == (
            spec.get("maximum", spec.get("exclusiveMaximum", math.inf)),
            "exclusiveMaximum" in spec), setting


# --- `snakemake --config` with a nested value ------------------------------------------------
# Snakemake reads `--config 'strategies={random: {budget: 3}}'` with YAML's base loader: the
# mapping arrives, every value in it as text ({'random': {'budget': '3'}}). The Snakefile passes
# those values (workflow.config_settings.config) to load_plan, which reads them as meant.


def test_nested_command_line_values_are_read_as_the_schema_wants():
    from snakemake.cli import parse_config
    from snakemake.utils import update_config

    given = parse_config(['strategies={"tpe": {"budget": 3, "batch_size": 2}}',
                          "space={x: {type: uniform, low: -5, high: 1e1, grid: 3}}"])
    assert given["strategies"]["tpe"]["budget"] == "3"  # what Snakemake hands over
    config = load_config("branin")
    update_config(config, copy.deepcopy(given))  # what Snakemake does with them
    resolved = resolve(config, command_line=given)
    assert resolved["strategies"]["tpe"]["budget"] == 3
    assert resolved["strategies"]["tpe"]["batch_size"] == 2
    assert resolved["space"]["x"] == {"type": "uniform", "low": -5, "high": 10.0, "grid": 3}
    assert config["strategies"]["tpe"]["budget"] == "3"  # the caller's config untouched


def test_a_nested_command_line_value_that_is_not_a_number_is_named_without_the_yaml_hint():
    from snakemake.cli import parse_config

    given = parse_config(['strategies={"random": {"budget": many}}'])
    config = load_config("branin")
    config["strategies"]["random"] = copy.deepcopy(given["strategies"]["random"])
    with pytest.raises(ConfigError) as caught:
        resolve(config, command_line=given)
    assert "strategies.random.budget: must be integer, got 'many'" in str(caught.value)
    assert "1e-4" not in str(caught.value)


def test_text_from_a_config_file_is_not_converted():
    """Only --config values are read again: '3' written as text in a file stays an error."""
    config = load_config("branin")
    config["strategies"]["random"]["budget"] = "3"
    with pytest.raises(ConfigError, match="strategies.random.budget: must be integer"):
        resolve(config, command_line={"seed": 3})


# --- objectives that read no data need no dataset block ---------------------------------------


def _without_dataset(name: str) -> dict:
    config = load_config(name)
    del config["dataset"]
    return config


def test_an_objective_without_data_needs_no_dataset():
    from hpstudy.report.setup_section import setup_table
    from hpstudy.tracking.notes import experiment_note, experiment_setup

    plan = Plan.from_config(_without_dataset("branin"))
    assert not plan.needs_data and "dataset" not in plan.config
    assert len({plan.study_hash(name) for name in plan.studies}) == len(plan.studies)
    assert " on " not in experiment_note("e", experiment_setup(plan)).splitlines()[2]
    table = setup_table(plan.config, config_hash=plan.hash, budgets={"random": 6}, data=None,
                        trials=0, fit_cpu_seconds=0.0, commit="abc", versions={})
    assert table.set_index("item").loc["data", "value"] == "none (the objective reads no data)"
    # A dataset block given anyway is kept as it was (the study hashes do not change).
    with_data = Plan.from_config(load_config("branin"))
    assert with_data.config["dataset"]["name"] == "digits"


def test_an_objective_that_reads_data_still_requires_the_dataset():
    with pytest.raises(ConfigError) as caught:
        resolve(_without_dataset("default"))
    assert str(caught.value) == ("invalid config: dataset: required by the 'cnn' objective "
                                 "(it trains on data), e.g. dataset: {name: digits}")


@pytest.mark.e2e
def test_a_study_without_a_dataset_block_is_planned(workdir):
    workdir.write_config(_without_dataset("branin"))
    result = workdir.snakemake("-n", timeout=120)
    assert "prepare_data" not in result.stdout and "init_tracking" in result.stdout

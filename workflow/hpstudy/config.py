"""Load and validate a study config (the plan that follows from it: hpstudy.plan).

Validation happens when the workflow starts, before any job runs: a JSON schema checks shape,
types and names, then `_semantic_errors` checks what a schema cannot say (reversed ranges,
grid sizes, which parameters an objective understands). Every message names the key.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from hpstudy.data import NAMED_DATASET_LABELS, classes_problem, task_of
from hpstudy.formats import REGRESSION, TABLE_SUFFIXES
from hpstudy.objectives import objective_class
from hpstudy.objectives import registry as objective_registry
from hpstudy.space import SearchSpace, space_errors
from hpstudy.strategies import strategy_class

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.yaml"

class ConfigError(ValueError):
    """A config that cannot run; the message names each offending key."""


@functools.cache
def load_schema() -> dict:
    """The config schema, with `objective.name` allowing exactly the objective blocks (so an
    objective is its module and its block, nothing else to edit)."""
    with open(SCHEMA_PATH, encoding="utf-8") as handle:
        schema = yaml.safe_load(handle)
    objective = schema["properties"]["objective"]["properties"]
    objective["name"]["enum"] = [name for name in objective if name != "name"]
    return schema


def schema_defaults(block: Mapping[str, Any]) -> dict[str, Any]:
    """The `default:` values of an object schema's properties (nested objects too)."""
    defaults = {}
    for name, spec in block.get("properties", {}).items():
        if "default" in spec:
            defaults[name] = copy.deepcopy(spec["default"])
        elif spec.get("type") == "object" and "properties" in spec:
            nested = schema_defaults(spec)
            if nested:
                defaults[name] = nested
    return defaults


def objective_defaults(name: str) -> dict[str, Any]:
    """An objective's defaults: its block of the schema (objective.<name>)."""
    return schema_defaults(load_schema()["properties"]["objective"]["properties"][name])


def defaults() -> dict[str, Any]:
    """Every top-level default of the schema, but the strategies' and objectives' (those
    apply only to the strategies and the objective a config names)."""
    found = schema_defaults(load_schema())
    return {key: value for key, value in found.items()
            if key not in ("objective", "strategies")}


def strategy_defaults(name: str) -> dict[str, Any]:
    """A strategy's defaults: its block of the schema (strategies.<name>)."""
    return schema_defaults(load_schema()["properties"]["strategies"]["properties"][name])


def _key(path) -> str:
    return ".".join(str(part) for part in path) or "<top level>"


def _describe(error) -> str:
    """One human line per jsonschema error: the key, what is wrong, what is allowed."""
    key = _key(error.absolute_path)
    schema = error.schema
    kind = error.validator
    if kind == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        where = key if error.absolute_path else "top level"
        allowed_text = ", ".join(allowed) if allowed else "(none)"
        hint = ""
        if key.startswith("execution.resources.") and {"threads", "gpu"} & set(extra):
            hint = (" (threads and GPUs of training jobs: the objective's threads and "
                    "device, e.g. objective.cnn.threads)")
        return (f"{where}: unknown key(s) {', '.join(map(repr, extra))}; "
                f"allowed: {allowed_text}{hint}")
    if kind == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return f"{key}: {error.instance!r} is not allowed; allowed: {allowed}"
    if kind == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        return f"{key}: missing required key(s) {', '.join(map(repr, missing))}"
    if kind == "type":
        wanted = error.validator_value
        wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
        hint = ""
        if (isinstance(error.instance, str) and wanted in ("number", "integer")
                and _finite_number(error.instance) is not None):
            hint = " (YAML reads 1e-4 as text: write 1.0e-4)"
        elif isinstance(error.instance, str) and wanted == "object":
            hint = (f" (on the command line, a mapping: --config '{key}={{name: {{key: value}}}}'"
                    f", or a --configfile)")
        return f"{key}: must be {wanted}, got {error.instance!r}{hint}"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        relation = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">",
                    "exclusiveMaximum": "<"}[kind]
        return f"{key}: must be {relation} {error.validator_value}, got {error.instance!r}"
    if kind in ("minProperties", "minItems") and error.validator_value <= 1:
        return f"{key}: must not be empty"
    if kind == "minItems":
        return f"{key}: needs at least {error.validator_value} items, got {error.instance!r}"
    if kind == "uniqueItems":
        repeated = sorted({json.dumps(item) for item in error.instance
                           if error.instance.count(item) > 1})
        return f"{key}: {', '.join(repeated)} given more than once in {error.instance!r}"
    if kind == "oneOf" and "grid" in key:
        return f"{key}: must be a non-empty list of points or a number of points >= 1, " \
               f"got {error.instance!r}"
    if kind == "pattern" or kind == "propertyNames":
        return f"{key}: {error.message}"
    return f"{key}: {error.message}"


def _non_finite_errors(value: Any, path: tuple = ()) -> list[str]:
    """Every .inf / .nan in the config, by key: no setting means infinity, and one would
    reach a library (hyperopt: OverflowError) inside a job after results/ exists."""
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{_key(path)}: {value!r} is not a finite number"]
    items = value.items() if isinstance(value, Mapping) else enumerate(value) \
        if isinstance(value, list) else ()
    return [error for key, item in items for error in _non_finite_errors(item, (*path, key))]


def _finite_number(text: str) -> int | float | None:
    """The number a text spells (int when it is one), or None (not a number, or inf/nan)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


_NOT_SCALAR = object()


def _scalar(text: str, wanted: str | list[str]) -> Any:
    """The value of a type the schema wants that a command-line text spells, or _NOT_SCALAR."""
    for kind in [wanted] if isinstance(wanted, str) else wanted:
        number = _finite_number(text)
        if kind == "integer" and isinstance(number, int):
            return number
        if kind == "number" and number is not None:
            return number
        if kind == "boolean" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if kind == "null" and text in ("null", "Null", "NULL", "~"):
            return None
    return _NOT_SCALAR


def _type_errors(errors) -> list:
    """Every type error, those inside oneOf/anyOf alternatives included."""
    found = []
    for error in errors:
        if error.validator == "type":
            found.append(error)
        found += _type_errors(error.context or ())
    return found


def _given_text(command_line: Mapping[str, Any], path: list) -> bool:
    """Whether `--config` gave this key, nested, as text (its value in `config` is that)."""
    value: Any = command_line
    for part in path:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and isinstance(part, int) and part < len(value):
            value = value[part]
        else:
            return False
    return isinstance(value, str)


def command_line_values(config: Mapping[str, Any],
                        command_line: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """`config` with the nested values `snakemake --config KEY=VALUE` gave as text read the
    way they were meant. Snakemake reads a top-level value as an int, float or bool, but a
    mapping (`--config 'strategies={random: {budget: 3}}'`) with YAML's base loader: every
    value in it is text ('3'). Each such text is converted where, and only where, the schema
    wants a number, integer, boolean or null there and the text spells one; a value from a
    --configfile is never touched (command_line: Snakemake's `workflow.config_settings.config`,
    the --config values alone)."""
    nested = {key for key, value in (command_line or {}).items()
              if isinstance(value, (Mapping, list))}
    if not nested:
        return config
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(load_schema())
    config = copy.deepcopy(dict(config))
    while True:  # a pass fixes at least one value, or ends
        changed = False
        for error in _type_errors(validator.iter_errors(config)):
            path = list(error.absolute_path)
            if (not path or path[0] not in nested or not isinstance(error.instance, str)
                    or not _given_text(command_line, path)):
                continue
            value = _scalar(error.instance, error.validator_value)
            if value is _NOT_SCALAR:
                continue
            parent = config
            for part in path[:-1]:
                parent = parent[part]
            if parent[path[-1]] == error.instance:  # not already converted this pass
                parent[path[-1]] = value
                changed = True
        if not changed:
            return config


def _schema_errors(config: Mapping[str, Any]) -> list[str]:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    return [_describe(error) for error in errors]


def merge_config(defaults: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(defaults))
    for key, value in given.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_config(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _dataset_errors(dataset: Mapping[str, Any]) -> list[str]:
    """A table (name `table`) is a .csv or .parquet path with a target column, and only a
    table has a target; arrays (name `arrays`) are a .npz path; dataset.classes against the
    labels of a dataset known by name. With dataset.path the labels are in the files: the
    Snakefile's data pre-flight (hpstudy.data.check_source)."""
    name, path, target = dataset["name"], dataset["path"], dataset["target"]
    table_path = path is not None and Path(path).suffix in TABLE_SUFFIXES
    errors = []
    if name == "table" and not table_path:
        errors.append(f"dataset.path: {path!r}, but dataset.name table reads a table: a "
                      f"{' or '.join(TABLE_SUFFIXES)} file")
    if name != "table" and table_path:
        errors.append(f"dataset.name: {name}, but dataset.path {path} is a table: name it "
                      f"table, with dataset.target")
    if name == "arrays" and not table_path and (path is None or Path(path).suffix != ".npz"):
        errors.append(f"dataset.path: {path!r}, but dataset.name arrays reads a .npz file "
                      f"holding arrays X and y")
    if name == "table" and target is None:
        errors.append("dataset.target: required with dataset.name table: the column to "
                      "predict")
    if name != "table" and target is not None:
        errors.append(f"dataset.target: {target!r}, but only a table (dataset.name table) "
                      f"has a target column; {name} has its labels")
    if task_of(dataset) == REGRESSION:
        if name not in ("table", "arrays"):
            errors.append(f"dataset.task: regression needs a real-valued target: a table "
                          f"(name table) or an X/y archive (name arrays); {name} has class "
                          f"labels")
        if dataset["classes"] is not None:
            errors.append(f"dataset.classes: {dataset['classes']}, but dataset.task "
                          f"regression has no classes to keep")
        return errors
    if dataset["classes"] is None or path is not None or name in ("table", "arrays"):
        return errors
    problem = classes_problem(dataset["classes"], NAMED_DATASET_LABELS[name], name)
    return errors + ([problem] if problem else [])


def _semantic_errors(config: Mapping[str, Any]) -> list[str]:
    errors = _dataset_errors(config["dataset"]) if "dataset" in config else []
    space_problems = space_errors(config["space"], grid_needed="grid" in config["strategies"])
    if space_problems:  # the checks below need a valid space
        return errors + space_problems
    space = SearchSpace.from_config(config["space"])
    objective = config["objective"]["name"]
    objective_settings = config["objective"][objective]
    errors += objective_class(objective).check(objective_settings, space)
    for name, settings in config["strategies"].items():
        if strategy_class(name).multi_fidelity:
            errors += _fidelity_errors(name, objective, objective_settings, space)
            fold_jobs = config["execution"]["fold_jobs"]
            if fold_jobs in ("per_round", "per_study") and objective_class(objective).continues:
                errors.append(f"execution.fold_jobs: {fold_jobs} cannot continue strategies."
                              f"{name}'s promoted trials from their checkpoints; use "
                              f"per_trial or per_fold")
        errors += strategy_class(name).check(settings, space)
    return errors


def _fidelity_errors(strategy: str, objective: str, settings: Mapping[str, Any],
                     space: SearchSpace) -> list[str]:
    """A multi-fidelity strategy sets the objective's fidelity (epochs) itself."""
    fidelity = objective_class(objective).fidelity
    if fidelity is None:
        with_one = [name for name, cls in objective_registry().items() if cls.fidelity]
        return [f"strategies.{strategy}: trains trials at several fidelities, but the "
                f"{objective!r} objective has only one; objectives with a fidelity: "
                f"{', '.join(with_one)}"]
    if fidelity in space.names:
        return [f"space.{fidelity}: strategies.{strategy} sets {fidelity} itself (its "
                f"fidelity); remove it from the space or the strategy"]
    return objective_class(objective).fidelity_errors(settings, strategy)


def _fill_metric(resolved: dict[str, Any], given: Mapping[str, Any]) -> list[str]:
    """A network's `metric` scores its task: a regression's defaults to rmse (accuracy, the
    schema's default, is a classifier's); a metric of the other task is an error. (The
    networks are the objectives scored by accuracy per fold; a function's or a command's
    `metric` names a key of what the user's code returns, and stays as given.)"""
    name = resolved["objective"]["name"]
    settings = resolved["objective"][name]
    if objective_class(name).fold_metric != "accuracy" or "dataset" not in resolved:
        return []
    regression = task_of(resolved["dataset"]) == REGRESSION
    if regression and "metric" not in ((given["objective"].get(name)) or {}):
        settings["metric"] = "rmse"
    wrong = "accuracy" if regression else "rmse"
    if settings["metric"] != wrong:
        return []
    task = "regression" if regression else "classification"
    return [f"objective.{name}.metric: {wrong} does not score a {task}; use "
            f"{'rmse or loss' if regression else 'accuracy or loss'}"
            + ("" if regression else " (rmse scores dataset.task: regression)")]


def _fill_fidelity(resolved: dict[str, Any]) -> None:
    """A multi-fidelity strategy's max_resource defaults to the objective's own fidelity
    setting (objective.cnn.epochs: the full fit)."""
    objective = resolved["objective"]["name"]
    fidelity = objective_class(objective).fidelity
    for name, settings in resolved["strategies"].items():
        if (strategy_class(name).multi_fidelity and fidelity is not None
                and settings.get("max_resource") is None):
            settings["max_resource"] = resolved["objective"][objective][fidelity]


def resolve(config: Mapping[str, Any],
            command_line: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Validate a raw config and return it with every default filled in.

    command_line: the values `snakemake --config` gave (command_line_values).
    Raises ConfigError listing every problem, one per line, each naming its key.
    """
    config = command_line_values(config, command_line)
    errors = _non_finite_errors(config) or _schema_errors(config)
    if errors:
        raise ConfigError("invalid config: " + "\n  ".join(errors))
    if "dataset" not in config:  # only an objective that reads no data goes without
        name = config["objective"]["name"]
        if objective_class(name).reads_data(config["objective"].get(name) or {}):
            raise ConfigError(f"invalid config: dataset: required by the {name!r} objective "
                              f"(it trains on data), e.g. dataset: {{name: digits}}")
    resolved = merge_config(defaults(), config)
    if "dataset" not in config:  # not the defaults of a block without its name
        del resolved["dataset"]
    # Defaults for the chosen objective's block and for any other block written out.
    objectives = resolved["objective"]
    for name in sorted({objectives["name"], *objectives} - {"name"}):
        objectives[name] = merge_config(objective_defaults(name), objectives.get(name) or {})
    resolved["strategies"] = {
        name: merge_config(strategy_defaults(name), settings or {})
        for name, settings in config["strategies"].items()
    }
    _fill_fidelity(resolved)
    metric_errors = _fill_metric(resolved, config)
    if metric_errors:
        raise ConfigError("invalid config: " + "\n  ".join(metric_errors))
    if "space" not in resolved:  # the objective's own (a table's columns), or an error
        name = objectives["name"]
        resolved["space"] = objective_class(name).default_space(objectives[name])
        if resolved["space"] is None:
            raise ConfigError(f"invalid config: space: required (only the table objective's "
                              f"table fixes its space; objective: {name})")
    errors = _semantic_errors(resolved)
    if errors:
        raise ConfigError("invalid config: " + "\n  ".join(errors))
    return resolved


def config_hash(config: Mapping[str, Any]) -> str:
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]

"""The search space: raw <-> value conversions, membership, grids, its checks and the domains
of the settings it sets (the libraries' translations: tests/strategies/test_libraries.py)."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from hpstudy.space import Domain, Parameter, SearchSpace, canonical_params, plain, space_errors
from tests.helpers.spaces import ALL_KINDS_SPACE

LR = Parameter("learning_rate", "loguniform", 1e-4, 0.1)
MOMENTUM = Parameter("momentum", "loguniform", 3.1623e-3, 0.31623, transform="complement")
DROPOUT = Parameter("dropout", "uniform", 0.0, 0.5)
SHIFT = Parameter("shift", "uniform", 0.25, 0.75, transform="complement")
FILTERS = Parameter("filters", "int", 8, 64)
OPTIMIZER = Parameter("optimizer", "choice", choices=("sgd", "adam", "rmsprop"))

SPACE_CONFIG = ALL_KINDS_SPACE


@pytest.fixture
def space() -> SearchSpace:
    return SearchSpace.from_config(SPACE_CONFIG)


# --- to_value / to_raw -------------------------------------------------------------------


@pytest.mark.parametrize("parameter", [LR, DROPOUT], ids=lambda p: p.name)
def test_untransformed_reals_pass_through(parameter):
    for raw in (parameter.low, (parameter.low + parameter.high) / 2, parameter.high):
        value = parameter.to_value(raw)
        assert value == raw and type(value) is float
        assert parameter.to_raw(value) == raw


def test_numpy_raws_become_python_floats():
    value = LR.to_value(np.float64(0.01))
    assert type(value) is float and value == 0.01


@pytest.mark.parametrize("parameter", [MOMENTUM, SHIFT], ids=lambda p: p.name)
def test_complement_is_one_minus_raw(parameter):
    assert parameter.to_value(parameter.low) == 1.0 - parameter.low
    assert parameter.to_value(parameter.high) == 1.0 - parameter.high
    assert parameter.value_bounds() == (1.0 - parameter.high, 1.0 - parameter.low)
    middle = (parameter.low + parameter.high) / 2
    assert parameter.to_raw(1.0 - middle) == pytest.approx(middle, abs=1e-15)


@pytest.mark.parametrize("parameter", [MOMENTUM, SHIFT], ids=lambda p: p.name)
def test_complement_round_trip_stays_inside_raw_bounds(parameter):
    # 1 - (1 - low) is one ulp below low for low = 3.1623e-3; samplers (skopt) reject that.
    rng = random.Random(0)
    raws = [parameter.low, parameter.high] + [rng.uniform(parameter.low, parameter.high)
                                              for _ in range(2000)]
    for raw in raws:
        back = parameter.to_raw(parameter.to_value(raw))
        assert type(back) is float
        assert parameter.low <= back <= parameter.high, raw
        assert back == pytest.approx(raw, rel=1e-12, abs=1e-15)
        assert parameter.contains(parameter.to_value(back))


def test_complement_round_trip_exact_at_lower_bound():
    # The case that made the GP crash on the next round: a proposal at raw = low.
    assert MOMENTUM.to_raw(MOMENTUM.to_value(MOMENTUM.low)) == MOMENTUM.low
    assert MOMENTUM.to_raw(MOMENTUM.to_value(MOMENTUM.high)) == MOMENTUM.high


def test_complement_to_raw_does_not_hide_values_outside():
    # Only rounding is snapped back; a value outside the parameter stays visibly outside.
    assert MOMENTUM.to_raw(0.5) == pytest.approx(0.5)
    assert SHIFT.to_raw(0.9) == pytest.approx(0.1)


def test_int_values_are_rounded_clipped_ints():
    # hyperopt's quniform yields floats, widened by half a step at each end.
    assert FILTERS.to_value(17.0) == 17 and type(FILTERS.to_value(17.0)) is int
    assert FILTERS.to_value(np.float64(16.6)) == 17
    assert FILTERS.to_value(7.5) == 8
    assert FILTERS.to_value(7.0) == 8  # clipped to low
    assert FILTERS.to_value(64.5) == 64
    assert FILTERS.to_value(65.0) == 64  # clipped to high
    assert FILTERS.to_value(np.int64(30)) == 30
    assert FILTERS.to_raw(30) == 30 and type(FILTERS.to_raw(30)) is int


def test_int_with_float_bounds_from_yaml():
    parameter = Parameter("units", "int", 1.0, 4.0)
    assert [parameter.to_value(raw) for raw in (0.4, 1.6, 4.4)] == [1, 2, 4]
    assert all(type(parameter.to_value(raw)) is int for raw in (0.4, 1.6, 4.4))


def test_choice_raws_are_indices():
    assert [OPTIMIZER.to_value(i) for i in range(3)] == ["sgd", "adam", "rmsprop"]
    assert OPTIMIZER.to_value(np.int64(2)) == "rmsprop"
    assert OPTIMIZER.to_value(1.0) == "adam"
    assert [OPTIMIZER.to_raw(c) for c in ("sgd", "adam", "rmsprop")] == [0, 1, 2]
    with pytest.raises(ValueError):
        OPTIMIZER.to_raw("adagrad")


def test_choice_of_numbers_round_trips():
    parameter = Parameter("batch_size", "choice", choices=(16, 32, 64))
    for index, value in enumerate(parameter.choices):
        assert parameter.to_raw(value) == index
        assert parameter.to_value(parameter.to_raw(value)) == value


def test_space_round_trip(space):
    values = {"learning_rate": 0.003, "momentum": 0.95, "dropout": 0.2, "filters": 20,
              "optimizer": "rmsprop"}
    raws = space.to_raws(values)
    assert raws["optimizer"] == 2
    assert raws["momentum"] == pytest.approx(0.05)
    back = space.to_values(raws)
    assert back["optimizer"] == "rmsprop" and back["filters"] == 20
    for name in ("learning_rate", "momentum", "dropout"):
        assert back[name] == pytest.approx(values[name], rel=1e-12)


# --- contains ----------------------------------------------------------------------------


def test_contains_reals():
    assert LR.contains(1e-4) and LR.contains(0.1) and LR.contains(0.01)
    assert not LR.contains(0.2) and not LR.contains(5e-5)
    assert not LR.contains(1)  # an int is not a real parameter's value
    assert not LR.contains(math.nan) and not LR.contains(math.inf)
    assert not LR.contains("0.01") and not LR.contains(None)
    assert DROPOUT.contains(0.0) and DROPOUT.contains(0.5) and not DROPOUT.contains(-1e-6)


def test_contains_complement_uses_value_bounds():
    low, high = 1.0 - MOMENTUM.high, 1.0 - MOMENTUM.low
    assert MOMENTUM.contains(0.9) and MOMENTUM.contains(low) and MOMENTUM.contains(high)
    assert not MOMENTUM.contains(0.1)  # a raw value, not a momentum
    assert not MOMENTUM.contains(0.999) and not MOMENTUM.contains(0.6)
    # One ulp past the bound (what 1 - raw can round to) is still inside.
    assert MOMENTUM.contains(math.nextafter(high, 2.0))
    assert not MOMENTUM.contains(high + 1e-9)


def test_contains_int_and_choice():
    assert FILTERS.contains(8) and FILTERS.contains(64) and FILTERS.contains(30)
    assert not FILTERS.contains(7) and not FILTERS.contains(65)
    assert not FILTERS.contains(30.0)  # int parameters take ints
    assert OPTIMIZER.contains("adam") and not OPTIMIZER.contains("adagrad")
    assert not OPTIMIZER.contains(1)  # an index is a raw value, not a value


def test_space_contains_needs_exactly_the_names(space):
    values = {"learning_rate": 0.003, "momentum": 0.95, "dropout": 0.2, "filters": 20,
              "optimizer": "adam"}
    assert space.contains(values)
    assert not space.contains({k: v for k, v in values.items() if k != "dropout"})
    assert not space.contains({**values, "extra": 1})
    assert not space.contains({**values, "filters": 100})


# --- grids -------------------------------------------------------------------------------


def test_grid_list_kept_in_order():
    parameter = Parameter.from_config("lr", {"type": "loguniform", "low": 1e-4, "high": 0.1,
                                             "grid": [0.01, 0.001, 0.1]})
    assert parameter.grid == (0.01, 0.001, 0.1)
    assert parameter.grid_values() == [0.01, 0.001, 0.1]


def test_grid_list_of_yaml_ints_on_a_real_parameter_gives_floats():
    parameter = Parameter.from_config("x", {"type": "uniform", "low": -5.0, "high": 10.0,
                                            "grid": [0, 5, 10]})
    values = parameter.grid_values()
    assert values == [0.0, 5.0, 10.0] and all(type(v) is float for v in values)
    assert all(parameter.contains(v) for v in values)


def test_grid_list_on_complement_is_in_value_space():
    assert MOMENTUM.contains(0.9)
    parameter = Parameter("momentum", "loguniform", 3.1623e-3, 0.31623,
                          transform="complement", grid=(0.9, 0.99))
    assert parameter.grid_values() == [0.9, 0.99]


def test_grid_count_linear():
    parameter = Parameter("x", "uniform", -5.0, 10.0, grid=4)
    assert parameter.grid_values() == pytest.approx([-5.0, 0.0, 5.0, 10.0])
    assert parameter.grid_values()[0] == -5.0 and parameter.grid_values()[-1] == 10.0


def test_grid_count_log():
    parameter = Parameter("lr", "loguniform", 1e-4, 0.1, grid=4)
    values = parameter.grid_values()
    assert values == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1], rel=1e-12)
    assert all(parameter.contains(v) for v in values)
    ratios = [b / a for a, b in itertools.pairwise(values)]
    assert ratios == pytest.approx([10.0] * 3, rel=1e-12)


def test_grid_count_log_with_complement():
    parameter = Parameter("momentum", "loguniform", 1e-3, 0.1, transform="complement", grid=3)
    values = parameter.grid_values()
    assert values == pytest.approx([0.999, 0.99, 0.9], rel=1e-12)
    assert all(parameter.contains(v) for v in values)


def test_grid_count_one_is_the_middle():
    assert Parameter("x", "uniform", 0.0, 10.0, grid=1).grid_values() == [5.0]
    assert Parameter("lr", "loguniform", 1e-4, 1e-2, grid=1).grid_values() == \
        pytest.approx([1e-3], rel=1e-12)
    assert Parameter("n", "int", 1, 4, grid=1).grid_values() == [2]  # round(2.5) -> 2


def test_int_grids():
    assert Parameter("n", "int", 1, 10, grid=4).grid_values() == [1, 4, 7, 10]
    assert Parameter("n", "int", 8, 64, grid=(16, 32)).grid_values() == [16, 32]
    # More points than integers: duplicates collapse, order stays ascending.
    assert Parameter("n", "int", 1, 3, grid=5).grid_values() == [1, 2, 3]
    values = Parameter("n", "int", 0, 100, grid=3).grid_values()
    assert values == [0, 50, 100] and all(type(v) is int for v in values)


def test_choice_grid_count_takes_the_first_choices():
    assert Parameter("o", "choice", choices=("a", "b", "c"), grid=2).grid_values() == ["a", "b"]
    assert Parameter("o", "choice", choices=("a", "b", "c"), grid=("c", "a")).grid_values() == \
        ["c", "a"]


def test_space_grid_is_the_cartesian_product_first_parameter_slowest(space):
    axes = [p.grid_values() for p in space]
    assert [len(a) for a in axes] == [3, 2, 2, 2, 2]
    grid = space.grid()
    assert len(grid) == space.grid_size() == 48
    assert grid == [dict(zip(space.names, combo, strict=True))
                    for combo in itertools.product(*axes)]
    # The last parameter changes fastest, the first only every 16 points.
    assert grid[0]["optimizer"] != grid[1]["optimizer"]
    assert [g["learning_rate"] for g in grid[:16]] == [axes[0][0]] * 16
    assert grid[16]["learning_rate"] == axes[0][1]
    assert len({tuple(g.values()) for g in grid}) == 48
    assert all(space.contains(g) for g in grid)


def test_from_config_and_lookup(space):
    assert space.names == list(SPACE_CONFIG)
    assert space["momentum"].transform == "complement"
    assert space["optimizer"].choices == ("sgd", "adam", "rmsprop")
    assert space["filters"].grid == (16, 32)
    assert space["learning_rate"].is_log and not space["dropout"].is_log
    with pytest.raises(KeyError):
        space["nope"]


# --- checks: the space's own, and the domains of the settings it sets ----------------------


def test_space_errors_name_the_key_and_check_grids_once_the_ranges_are_right():
    good = {"x": {"type": "uniform", "low": 0.0, "high": 1.0, "grid": [0.5]}}
    assert space_errors(good, grid_needed=True) == []
    assert space_errors({"x": {"type": "uniform", "low": 0.0, "high": 1.0}},
                        grid_needed=True) == [
        "space.x.grid: the grid strategy needs grid points for every parameter (a list of "
        "values, or a number of points)"]
    assert space_errors({"c": {"type": "choice", "choices": ["a"], "low": 0}},
                        grid_needed=False) == [
        "space.c.low: not used by type choice (use 'choices')"]
    reversed_first = {"a": {"type": "uniform", "low": 1.0, "high": 0.0},
                      "b": {"type": "uniform", "low": 0.0, "high": 1.0, "grid": [2.0]}}
    assert space_errors(reversed_first, grid_needed=True) == [
        "space.a: empty or reversed range: low=1.0 must be < high=0.0"]
    assert space_errors({"b": reversed_first["b"]}, grid_needed=True) == [
        "space.b.grid: point(s) [2.0] outside the parameter's values [0.0, 1.0]"]


FRACTION = Domain(0, 1, open_high=True)
POSITIVE = Domain(low=0, open_low=True)
COUNT = Domain(low=1, integer=True)
NAMES = Domain(values=("sgd", "adam"))


def test_a_domain_reads_as_its_values():
    assert [str(d) for d in (FRACTION, POSITIVE, COUNT, NAMES, Domain(0, 1))] == [
        "[0, 1)", "(0, inf)", "integers >= 1", "{'sgd', 'adam'}", "[0, 1]"]
    assert str(Domain(1, 8, integer=True)) == "integers in [1, 8]"


def test_a_domain_holds_numbers_of_its_kind_inside_its_ends():
    assert FRACTION.holds(0) and FRACTION.holds(0.999) and not FRACTION.holds(1.0)
    assert not POSITIVE.holds(0.0) and POSITIVE.holds(1e-12)
    assert COUNT.holds(1) and not COUNT.holds(0) and not COUNT.holds(2.0)
    assert not COUNT.holds(True) and not FRACTION.holds("0.5")
    assert NAMES.holds("adam") and not NAMES.holds("nadam")


@pytest.mark.parametrize(("domain", "parameter", "outside"), [
    (FRACTION, Parameter("momentum", "uniform", 0.5, 1.5), "values up to 1.5"),
    (FRACTION, Parameter("momentum", "uniform", -0.5, 1.5),
     "values down to -0.5 and up to 1.5"),
    # After the transform: 1 - uniform[0, 0.5] reaches momentum 1.
    (FRACTION, Parameter("momentum", "uniform", 0.0, 0.5, transform="complement"),
     "values up to 1.0"),
    (FRACTION, MOMENTUM, None),
    (POSITIVE, Parameter("learning_rate", "uniform", 0.0, 0.1), "values down to 0.0"),
    (POSITIVE, LR, None),
    (COUNT, Parameter("filters", "int", 0.0, 8.0), "values down to 0"),
    (COUNT, FILTERS, None),
    (COUNT, Parameter("batch_size", "loguniform", 8, 128),
     "the non-integer values of type loguniform"),
    (COUNT, Parameter("batch_size", "choice", choices=(16, 32.0)), "choices [32.0]"),
    (NAMES, Parameter("optimizer", "choice", choices=("sgd", "nadam")), "choices ['nadam']"),
    (NAMES, DROPOUT, "the numbers of type uniform"),
])
def test_a_domain_names_the_values_of_a_parameter_outside_it(domain, parameter, outside):
    assert domain.outside(parameter) == outside


def test_canonical_params_and_plain(space):
    point = [np.float64(0.01), np.float64(0.1), np.float64(0.25), np.int64(20), np.int64(1)]
    values = canonical_params(space, point)
    assert values == {"learning_rate": 0.01, "momentum": 0.9, "dropout": 0.25, "filters": 20,
                      "optimizer": "adam"}
    assert [type(v) for v in values.values()] == [float, float, float, int, str]
    assert canonical_params(space, dict(zip(space.names, point, strict=True))) == values
    assert plain(np.int64(3)) == 3 and type(plain(np.int64(3))) is int
    assert plain("x") == "x"

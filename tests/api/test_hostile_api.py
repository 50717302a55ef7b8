"""Misusing the Python API gives symgrad's own errors, naming the argument; the user's own errors pass through."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import symgrad as sg
from symgrad.errors import AxisError, InputError, LimitError, ShapeError, SymbolNameError, SymgradError
from symgrad.ir import node as ir_node
from symgrad.limits import budget, charge, checkpoint, time_slice
from symgrad.limits import current as current_budget

# -- symbols() ---------------------------------------------------------------------------------


@pytest.mark.parametrize("names", ["", "   ", ",", "1x", "a-b", "x y!", "a.b"])
def test_symbols_refuses_names_that_are_not_identifiers(names):
    with pytest.raises(SymbolNameError, match="name") as info:
        sg.symbols(names)
    assert isinstance(info.value, ValueError)  # what symbols() raised before: except ValueError still works


@pytest.mark.parametrize("names", [None, 3, b"x", ["x"]])
def test_symbols_refuses_a_non_string(names):
    with pytest.raises(InputError, match="string of names"):
        sg.symbols(names)


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        (-1, "negative dimension"),
        ((2, -3), "negative dimension"),
        ((10**10,), "elements"),
        ((10**5, 10**5), "elements"),
        ((1,) * 40, "40 dimensions"),
        (2.5, "tuple of ints"),
        ("ab", "tuple of ints"),
        ((True,), "tuple of ints"),
    ],
)
def test_symbols_refuses_bad_and_huge_shapes_before_allocating(shape, match):
    start = time.perf_counter()
    with pytest.raises(InputError, match=match):
        sg.symbols("x", shape=shape)
    assert time.perf_counter() - start < 1.0


def test_symbols_still_accepts_ints_tuples_and_numpy_ints():
    assert sg.symbols("a", shape=2).shape == (2,)
    assert sg.symbols("M", shape=(np.int64(2), 3)).shape == (2, 3)
    assert sg.symbols("z", shape=()).shape == ()


# -- axes -----------------------------------------------------------------------------------------

a1 = sg.symbols("a", shape=(3,))
q23 = sg.symbols("q", shape=(2, 3))


@pytest.mark.parametrize(
    "call",
    [
        lambda: sg.sum(a1, axis=99),
        lambda: sg.sum(a1, axis=1),
        lambda: sg.sum(a1, axis=-2),
        lambda: sg.mean(q23, axis=-7),
        lambda: sg.softmax(q23, axis=4),
        lambda: sg.log_softmax(q23, axis=2),
        lambda: sg.logsumexp(q23, axis=-3),
        lambda: sg.prod(q23, axis=(0, 5)),
        lambda: sg.sum(a1, axis=(0, 0)),
        lambda: sg.sum(q23, axis=(1, -1)),
    ],
    ids=["99", "1", "-2", "mean-7", "softmax4", "log_softmax2", "logsumexp-3", "prod(0,5)", "(0,0)", "(1,-1)"],
)
def test_out_of_range_or_repeated_axes_raise_an_axis_error_that_is_numpys_too(call):
    with pytest.raises(AxisError) as info:
        call()
    err = info.value
    assert isinstance(err, ShapeError) and isinstance(err, np.exceptions.AxisError)
    assert isinstance(err, ValueError) and isinstance(err, IndexError)
    assert "axis" in str(err)


def test_the_axis_error_is_what_numpy_raises_for_the_same_axis():
    with pytest.raises(np.exceptions.AxisError):
        np.sum(np.ones(3), axis=99)
    with pytest.raises(np.exceptions.AxisError):
        sg.sum(a1, axis=99)


@pytest.mark.parametrize("axis", [1.5, "0", (0, 1.0), True])
def test_a_non_integer_axis_is_an_input_error(axis):
    with pytest.raises(InputError, match="axis must be an int"):
        sg.sum(q23, axis=axis)


def test_valid_axes_still_reduce_as_numpy_does():
    assert str(sg.sum(a1, axis=-1)) == "a[0] + a[1] + a[2]"
    assert sg.sum(q23, axis=(0, 1)) is sg.sum(q23)
    assert np.asarray(sg.sum(q23, axis=np.int64(1))).shape == (2,)
    assert np.asarray(sg.mean(q23, axis=0, keepdims=True)).shape == (1, 3)
    x = sg.symbols("x")
    assert sg.sum(x, axis=0) is x and sg.softmax(x) == 1  # a 0-d value takes axis 0 or -1, as before


def test_the_formula_parser_refuses_an_out_of_range_axis():
    with pytest.raises(sg.FormulaError, match="axis 99 is out of range"):
        sg.parse_formula("sum(a, axis=99)", {"a": 3})
    with pytest.raises(sg.FormulaError, match="out of range"):
        sg.parse_formula("softmax(q, axis=4)", {"q": (2, 3)})


# -- inputs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [10**400, -(2**2000), [1.0, 10**400], np.array([10**400], dtype=object)])
def test_ints_beyond_float_range_are_an_input_error_naming_the_argument(value):
    f = sg.compile(lambda x, y: x * y)
    with pytest.raises(InputError, match="'y'.*too large"):
        f(2.0, value)


def test_big_ints_within_float_range_still_work():
    f = sg.compile(lambda x: 2 * x)
    assert f(2**64) == 2.0**65
    assert np.allclose(f([2**64, 1]), [2.0**65, 2.0])


def test_real_imag_and_conjugate_of_a_real_symbol_are_the_value_and_zero():
    x = sg.symbols("x")
    assert x.real is x and x.conj() is x and x.conjugate() is x
    assert x.imag == 0
    a = sg.symbols("a", shape=(2,))
    assert list(np.conj(a)) == list(a) and list(np.real(a)) == list(a)
    g = sg.grad(lambda x: (x * x.conj()).real + x.imag)
    assert g(3.0) == 6.0


# -- derivative order, graph pictures -----------------------------------------------------------------


@pytest.mark.parametrize("order", [10**4, 33, 10**20])
def test_derivative_of_an_order_numpy_cannot_hold_names_order(order):
    with pytest.raises(InputError, match="order"):
        sg.derivative(lambda x: x**2, order)


def test_derivative_of_moderate_order_still_works():
    assert sg.derivative(lambda x: sg.sin(x), 5)(0.0) == pytest.approx(1.0)


def test_rendering_into_a_missing_directory_is_an_input_error(tmp_path):
    x = sg.symbols("x")
    picture = sg.graph(sg.sin(x))
    for name in ("g.dot", "g.svg", "g.png"):
        with pytest.raises(InputError, match="does not exist"):
            picture.render(tmp_path / "missing" / name)
    with pytest.raises(InputError, match="cannot write"):
        picture.render(tmp_path, format="dot")  # a directory, not a file
    assert picture.render(tmp_path / "g.dot").read_text().startswith("digraph")


# -- the user's own errors are the user's -----------------------------------------------------------


class _Mine(Exception):
    pass


@pytest.mark.parametrize("error", [ValueError("mine"), ZeroDivisionError("mine"), _Mine("mine"), KeyError("mine")])
@pytest.mark.parametrize("transform", [sg.compile, sg.grad, sg.hessian])
def test_exceptions_raised_by_the_traced_function_propagate_unchanged(error, transform):
    def f(x):
        raise error

    with pytest.raises(type(error)) as info:
        transform(f)
    assert info.value is error and not isinstance(info.value, SymgradError)


def test_a_zero_division_in_the_users_own_arithmetic_propagates():
    def f(x):
        return x + 1 / 0

    with pytest.raises(ZeroDivisionError):
        sg.grad(f)


# -- the work budget, from Python -------------------------------------------------------------------


def test_without_a_budget_the_creation_hook_is_off():
    assert ir_node._CREATION_HOOK is None
    with budget(max_nodes=10**6, seconds=60):
        assert ir_node._CREATION_HOOK is not None
    assert ir_node._CREATION_HOOK is None and current_budget() is None


def test_a_budget_stops_runaway_building_with_an_error_naming_the_limit():
    big = sg.symbols("big", shape=(3000,))
    start = time.perf_counter()
    with pytest.raises(LimitError, match="max_nodes=20,000") as info, budget(max_nodes=20_000, seconds=60):
        sg.gradient(sg.prod(big), list(big))
    assert time.perf_counter() - start < 5
    assert info.value.limit == "max_nodes" and info.value.value == 20_000
    assert isinstance(info.value, InputError)


def test_a_budget_stops_a_long_job_on_time_even_if_it_creates_few_nodes():
    start = time.perf_counter()
    with pytest.raises(LimitError, match="time limit of 0.2 seconds"), budget(max_nodes=10**9, seconds=0.2):
        while True:
            checkpoint()
    assert time.perf_counter() - start < 2


def test_the_budget_interrupts_code_that_never_checks_when_asked():
    start = time.perf_counter()
    with pytest.raises(LimitError, match="seconds"), budget(max_nodes=10**9, seconds=0.2, interrupt=True):
        while True:
            pass
    assert time.perf_counter() - start < 2


def test_the_limit_is_not_swallowed_by_the_traced_functions_except_exception():
    def f(x):
        acc = x
        try:
            for _ in range(10**6):
                acc = acc * (x + acc)  # new nodes every step
        except Exception:  # noqa: BLE001 - a careless user's catch-all must not hide the limit
            return x
        return acc

    with pytest.raises(LimitError), budget(max_nodes=5_000, seconds=60):
        sg.compile(f)


def test_budget_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("SYMGRAD_MAX_NODES", "1234")
    monkeypatch.setenv("SYMGRAD_TIME_LIMIT", "7.5")
    with budget() as b:
        assert (b.max_nodes, b.seconds) == (1234, 7.5)
    with budget(max_nodes=99) as b:  # an argument wins
        assert b.max_nodes == 99
    for bad in ("lots", "-3", "0", "nan", "inf"):
        monkeypatch.setenv("SYMGRAD_TIME_LIMIT", bad)
        with pytest.raises(InputError, match="SYMGRAD_TIME_LIMIT"), budget():
            pass


@pytest.mark.parametrize(("max_nodes", "seconds"), [(0, 1), (1.5, 1), (True, 1), (10, 0), (10, float("nan"))])
def test_budget_arguments_are_checked(max_nodes, seconds):
    with pytest.raises(InputError), budget(max_nodes=max_nodes, seconds=seconds):
        pass


def test_a_budget_counts_only_its_own_threads_nodes():
    seen = {}

    def other():
        x = sg.symbols("x_other_thread")
        acc = x
        for k in range(3000):
            acc = acc + x**k
        seen["ok"] = True

    with budget(max_nodes=2_000, seconds=60):
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert seen == {"ok": True}


def test_charge_and_nested_budgets():
    with budget(max_nodes=100, seconds=60) as outer:
        charge(10)
        with budget(max_nodes=1_000, seconds=60) as inner:
            charge(500)
            assert current_budget() is inner
        assert current_budget() is outer and outer.nodes == 10
        with pytest.raises(LimitError, match="Hessian entries"), budget(max_nodes=5, seconds=60):
            charge(6, "Hessian entries")
    assert current_budget() is None


def test_a_time_slice_ends_optional_work_and_the_job_goes_on():
    from symgrad.limits import TimeSliceExpired

    start = time.perf_counter()
    with pytest.raises(TimeSliceExpired), time_slice(0.1):
        while True:
            pass
    assert time.perf_counter() - start < 2
    with time_slice(5):  # finishing in time disarms the timer
        pass
    time.sleep(0.05)

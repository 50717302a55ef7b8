"""Reductions as numpy spells them: max/min, var/std, cumsum/cumprod, their axes, and derivatives at ties.

Every spelling (``sg.max``, ``x.max()``, ``np.max``, ``np.amax``, ``np.maximum.reduce``...)
builds the same nodes; values are numpy's own on the numpy and C backends; derivatives
are checked against central differences away from ties, and at ties and kinks against
the conventions README states (a tie of two halves the gradient, as JAX's ``maximum``).
"""

from __future__ import annotations

import shutil
from fractions import Fraction

import numpy as np
import pytest
from oracle import central_jacobian

import symgrad as sg
from symgrad.ir.array import SymbolicArray

HAS_CC = shutil.which("cc") is not None or shutil.which("gcc") is not None
BACKENDS = ["numpy", pytest.param("c", marks=pytest.mark.skipif(not HAS_CC, reason="no C compiler"))]
RNG = np.random.default_rng(12)
M = RNG.normal(size=(3, 4))  # no ties


def _same(a, b) -> bool:
    """The same nodes, element by element (hash-consing: the same expression is the same object)."""
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    return a.shape == b.shape and all(u is v for u, v in zip(a.flat, b.flat))


# -- max and min ---------------------------------------------------------------------------------


def test_every_spelling_of_max_and_min_builds_the_same_nodes():
    a = sg.symbols("a", shape=(3, 4))
    for axis in (None, 0, 1, -1, (0, 1)):
        want = sg.max(a, axis=axis)
        assert _same(a.max(axis=axis), want) and _same(np.max(a, axis=axis), want) and _same(np.amax(a, axis), want)
        assert _same(sg.amax(a, axis=axis), want)
        assert _same(np.min(a, axis=axis), sg.min(a, axis=axis)) and _same(a.min(axis=axis), sg.amin(a, axis=axis))
    assert _same(np.maximum.reduce(a), sg.max(a, axis=0)) and _same(np.minimum.reduce(a, axis=1), sg.min(a, axis=1))
    assert _same(np.max(a, axis=0, keepdims=True), sg.max(a, axis=0, keepdims=True))
    assert np.shape(np.max(a, axis=1, keepdims=True)) == (3, 1)


def test_max_of_many_elements_is_a_balanced_tree():
    a = sg.symbols("a", shape=(1024,))
    top = sg.max(a)
    depth, level = 0, [top]
    while level[0].op == "maximum":
        depth, level = depth + 1, [c for n in level for c in n.args]
    assert depth == 10 and len(level) == 1024  # log2(n) levels, every element once
    assert len(str(top)) < 20 * 1024  # linear text, not a chain printed inside a chain
    for n in (1, 2, 3, 5, 7):
        assert sg.max(sg.symbols("b", shape=(n,))).op == ("maximum" if n > 1 else "sym")


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_min_values_and_gradients_follow_numpy_away_from_ties(backend):
    def fn(a):
        return [
            sg.max(a),
            sg.min(a, axis=0),
            np.max(a, axis=1),
            a.min(axis=-1, keepdims=True),
            np.maximum.accumulate(a),
        ]

    outs = sg.compile(fn, shapes=[(3, 4)], backend=backend)(M)
    want = [M.max(), M.min(axis=0), M.max(axis=1), M.min(axis=-1, keepdims=True), np.maximum.accumulate(M)]
    for got, w in zip(outs, want):
        np.testing.assert_array_equal(got, w)
    jac = sg.jacobian(lambda a: np.max(a, axis=1) + sg.min(a, axis=1), shapes=[(3, 4)], backend=backend)(M)
    np.testing.assert_allclose(jac, central_jacobian(lambda m: m.max(axis=1) + m.min(axis=1), M), atol=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_of_max_at_ties_follows_the_convention(backend):
    g = sg.grad(sg.max, shapes=[(4,)], backend=backend)
    np.testing.assert_array_equal(g(np.array([3.0, 1.0, 2.0, 0.0])), [1, 0, 0, 0])
    np.testing.assert_array_equal(g(np.array([2.0, 2.0, 0.0, 1.0])), [0.5, 0.5, 0, 0])  # a tie of two: halves
    np.testing.assert_array_equal(g(np.array([0.0, 2.0, 1.0, 2.0])), [0, 0.5, 0, 0.5])
    np.testing.assert_array_equal(g(np.array([1.0, 1.0, 1.0, 1.0])), [0.25] * 4)  # pairs of pairs: a quarter each
    # three tied of three: the tree max(max(a0, a1), a2) gives a0, a1 a quarter and a2 a half (README)
    g3 = sg.grad(sg.max, shapes=[(3,)], backend=backend)
    np.testing.assert_array_equal(g3(np.array([1.0, 1.0, 1.0])), [0.25, 0.25, 0.5])
    gmin = sg.grad(lambda v: np.min(v), shapes=[(4,)], backend=backend)
    np.testing.assert_array_equal(gmin(np.array([-1.0, 0.0, -1.0, 3.0])), [0.5, 0, 0.5, 0])
    for v in RNG.integers(0, 3, size=(20, 4)).astype(float):  # any tie pattern: the shares sum to 1
        assert g(v).sum() == 1.0 and np.all(g(v)[v < v.max()] == 0)


def test_max_with_initial_and_of_no_elements():
    a = sg.symbols("a", shape=(2, 3))
    v = np.array([[-1.0, -2.0, -3.0], [0.5, -4.0, -0.5]])
    fn = sg.compile(
        [np.max(a, initial=0.0), sg.max(a, axis=1, initial=0.0), np.maximum.reduce(a, 0, initial=-1.0)], [a]
    )
    for got, want in zip(fn(v), [np.max(v, initial=0.0), np.max(v, axis=1, initial=0.0), np.max(v, 0, initial=-1.0)]):
        np.testing.assert_array_equal(got, want)
    empty = sg.symbols("e", shape=(0, 3))
    with pytest.raises(sg.ShapeError, match="initial="):
        sg.max(empty)
    with pytest.raises(sg.ShapeError, match="sg.min"):
        np.min(empty, axis=0)
    assert np.shape(sg.max(empty, axis=1)) == (0,)  # no outputs, nothing to reduce: as numpy
    assert float(sg.max(empty, initial=2.0)) == 2.0


# -- var and std --------------------------------------------------------------------------------


VARIANTS = [
    {},
    {"axis": 0},
    {"axis": 1, "ddof": 1},
    {"axis": -1, "keepdims": True},
    {"axis": (0, 1), "ddof": 2},
    {"ddof": 1.5},
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_var_and_std_follow_numpy(backend):
    def fn(a):
        outs = []
        for kw in VARIANTS:
            outs += [sg.var(a, **kw), np.std(a, **kw), a.var(**kw), a.std(**kw)]
        return outs

    got = sg.compile(fn, shapes=[(3, 4)], backend=backend)(M)
    want = [f(M, **kw) for kw in VARIANTS for f in (np.var, np.std, np.var, np.std)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-13)
    # the correction= spelling of numpy 2 is ddof
    np.testing.assert_allclose(sg.compile(lambda a: np.var(a, correction=1), shapes=[(3, 4)])(M), np.var(M, ddof=1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_var_and_std_derivatives_match_finite_differences(backend):
    jac = sg.jacobian(lambda a: sg.std(a, axis=0, ddof=1), shapes=[(3, 4)], backend=backend)(M)
    np.testing.assert_allclose(jac, central_jacobian(lambda m: np.std(m, axis=0, ddof=1), M), rtol=1e-6, atol=1e-8)
    v = M[0]
    hess = sg.hessian(lambda a: np.var(a), shapes=[(4,)], backend=backend)(v)
    np.testing.assert_allclose(hess, (2 / 4) * (np.eye(4) - 1 / 4), rtol=1e-13)  # exact: the Hessian of var


@pytest.mark.parametrize("backend", BACKENDS)
def test_var_of_data_far_from_zero_keeps_numpys_accuracy(backend):
    rng = np.random.default_rng(3)
    for n in (2, 3, 4, 5, 7):
        x = 1e8 + rng.normal(size=(6, n))  # the spread is 1e-8 of the magnitude
        exact = []
        for row in x:
            mean = sum(map(Fraction, row)) / n
            exact.append(float(sum((Fraction(v) - mean) ** 2 for v in row) / (n - 1)))
        got = sg.compile(lambda a: np.var(a, axis=1, ddof=1), shapes=[(6, n)], backend=backend)(x)
        np.testing.assert_allclose(np.var(x, axis=1, ddof=1), exact, rtol=1e-12)  # numpy's two passes
        np.testing.assert_allclose(got, exact, rtol=1e-12)


def test_var_with_too_few_degrees_of_freedom_is_inf_or_nan_as_numpy():
    with np.errstate(all="ignore"):
        assert sg.compile(lambda a: np.var(a, ddof=4), shapes=[(2,)])(np.array([1.0, 2.0])) == np.inf
        assert np.isnan(sg.compile(lambda a: sg.var(a, ddof=1), shapes=[(1,)])(np.array([3.0])))
        assert np.isnan(float(sg.mean(sg.symbols("e", shape=(0,)))))  # the mean of nothing: nan
        # the derivative of std where every element is equal: nan, as JAX (0 * 1/sqrt(0))
        assert np.all(np.isnan(sg.grad(sg.std, shapes=[(3,)])(np.ones(3))))


def test_var_refuses_what_it_cannot_do_by_name():
    a = sg.symbols("a", shape=(3,))
    with pytest.raises(sg.InputError, match="ddof"):
        sg.var(a, ddof="one")
    with pytest.raises(sg.InputError, match="ddof= or correction="):
        np.var(a, ddof=1, correction=1)
    with pytest.raises(sg.UnsupportedOpError, match=r"numpy\.std\(out=\.\.\.\)"):
        np.std(a, out=np.empty(()))
    with pytest.raises(sg.UnsupportedOpError, match=r"numpy\.var\(where=\.\.\.\)"):
        np.var(a, where=np.array([True, False, True]))
    with pytest.raises(sg.UnsupportedOpError, match=r"sg\.std\(dtype=\.\.\.\)"):
        sg.std(a, dtype=np.float32)
    with pytest.raises(sg.AxisError, match="out of range"):
        a.std(axis=1)


# -- cumsum and cumprod ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_cumsum_and_cumprod_follow_numpy(backend):
    def fn(a):
        return [
            sg.cumsum(a),
            np.cumsum(a, axis=0),
            a.cumsum(axis=-1),
            sg.cumprod(a, axis=1),
            np.cumprod(a),
            a.cumprod(0),
        ]

    got = sg.compile(fn, shapes=[(3, 4)], backend=backend)(M)
    want = [np.cumsum(M), np.cumsum(M, 0), np.cumsum(M, -1), np.cumprod(M, 1), np.cumprod(M), np.cumprod(M, 0)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-14)
    x = sg.symbols("x")
    assert _same(sg.cumsum(x), np.array([x])) and np.shape(np.cumsum(x, axis=0)) == (1,)  # a 0-d array: as numpy


@pytest.mark.parametrize("backend", BACKENDS)
def test_cumprod_derivative_is_exact_through_zeros(backend):
    v = np.array([2.0, 0.0, -3.0, 0.5])
    jac = sg.jacobian(lambda a: np.cumprod(a), shapes=[(4,)], backend=backend)(v)
    want = np.array([[np.prod(np.delete(v[: i + 1], j)) if j <= i else 0.0 for j in range(4)] for i in range(4)])
    np.testing.assert_array_equal(jac, want)  # no division by an element anywhere: exact where one is 0
    jac = sg.jacobian(lambda a: sg.cumsum(a, axis=1), shapes=[(3, 4)], backend=backend)(M)
    np.testing.assert_allclose(jac, central_jacobian(lambda m: np.cumsum(m, axis=1), M), atol=1e-8)


def test_cumsum_axis_errors_are_symgrad_errors():
    a = sg.symbols("a", shape=(2, 3))
    with pytest.raises(sg.AxisError, match="out of range"):
        np.cumsum(a, axis=2)
    with pytest.raises(sg.InputError, match="axis must be an int or None"):
        sg.cumprod(a, axis=(0, 1))
    with pytest.raises(sg.UnsupportedOpError, match=r"numpy\.cumsum\(out=\.\.\.\)"):
        np.cumsum(a, out=np.empty(6))


# -- sum, mean, prod keep numpy's arguments ---------------------------------------------------------


def test_sum_mean_prod_take_numpy_arguments_and_methods():
    a = sg.symbols("a", shape=(3, 4))
    fn = sg.compile(
        lambda a: [a.mean(axis=0), np.mean(a, 1, keepdims=True), a.sum(0, None, None, True), np.sum(a, initial=2.0),
                   np.prod(a, axis=1, initial=0.5), np.add.reduce(a, axis=1, initial=1.0)],
        shapes=[(3, 4)],
    )  # fmt: skip
    want = [M.mean(0), M.mean(1, keepdims=True), M.sum(0, keepdims=True), M.sum(initial=2.0),
            M.prod(1, initial=0.5), np.add.reduce(M, axis=1, initial=1.0)]  # fmt: skip
    for g, w in zip(fn(M), want):
        np.testing.assert_allclose(g, w, rtol=1e-14)
    assert isinstance(a.mean(axis=0), SymbolicArray) and isinstance(a.std(axis=1) > 0, SymbolicArray)
    with pytest.raises(sg.UnsupportedOpError, match=r"numpy\.sum\(dtype=\.\.\.\)"):
        np.sum(a, dtype=np.float32)


def test_array_methods_on_a_scalar_name_the_value_and_shapes():
    x = sg.symbols("x")
    for method in ("sum", "max", "std", "cumsum"):
        with pytest.raises(sg.SymgradError, match="x is a scalar"):
            getattr(x, method)()
    with pytest.raises(sg.SymgradError, match="shapes="):
        sg.grad(lambda v: v.max())


def test_formulas_reach_the_reductions():
    shapes = {"a": (2, 3)}
    v = np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]])
    cases = {
        "amax(a)": v.max(),
        "amin(a, axis=0)": v.min(0),
        "var(a, ddof=1)": v.var(ddof=1),
        "std(a, axis=1, keepdims=True)": v.std(1, keepdims=True),
        "cumsum(a)": np.cumsum(v),
        "cumprod(a, axis=1)": np.cumprod(v, 1),
        "reciprocal(a)": 1 / v,
    }
    for text, want in cases.items():
        parsed = sg.parse_formula(text, shapes=shapes)
        got = sg.compile(parsed.value, inputs=[parsed.symbols["a"]])(v)
        np.testing.assert_allclose(got, want, rtol=1e-14, err_msg=text)


def test_softmax_over_an_empty_axis_is_empty():
    a = sg.symbols("a", shape=(2, 0))
    for fn in (sg.softmax, sg.log_softmax):
        for axis in (-1, 0, None):
            assert np.shape(fn(a, axis=axis)) == (2, 0)
    assert np.shape(sg.softmax(sg.symbols("b", shape=(0,)))) == (0,)
    got = sg.compile(lambda x: sg.log_softmax(x, axis=1) + 1.0, shapes=[(2, 0)])(np.zeros((2, 0)))
    assert got.shape == (2, 0)

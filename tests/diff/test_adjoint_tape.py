"""sg.grad past the tape threshold: reverse mode on the forward tape, held to the symbolic gradient.

The threshold (:data:`symgrad.codegen.adjoint.ADJOINT_STEPS`) is lowered to 0 by
the ``taped`` fixture, so small random expressions take the tape path; the same
function's symbolic gradient (threshold restored) is the oracle, and sympy is the
oracle of that one elsewhere (``test_oracle.py``).  The chain tests use the real
threshold.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, assume, given, settings
from oracle import EXTRA_BINARY, EXTRA_UNARY, SMOOTH_BINARY, SMOOTH_UNARY, SX, SY, X, Y, examples, expressions

import symgrad as sg
from symgrad.api.taped import TapedGradient
from symgrad.backends.pyload import load_python
from symgrad.codegen import adjoint

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import workloads as wl

needs_cc = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
BACKENDS = ["numpy", pytest.param("c", marks=needs_cc)]
POINTS = np.random.default_rng(7).uniform(-1.2, 1.2, size=(2, 6))
UNARY = {**SMOOTH_UNARY, **EXTRA_UNARY}
BINARY = {**SMOOTH_BINARY, **EXTRA_BINARY}
LEAVES = [(X, SX), (Y, SY), *((c, sympy.nsimplify(c)) for c in (-2, 0.5, 3))]


@pytest.fixture
def taped(monkeypatch):
    """Every graph of at least one step takes the tape path."""
    monkeypatch.setattr(adjoint, "ADJOINT_STEPS", 0)


def _symbolic(fn, **kw):
    """The same gradient by the symbolic sweep (whatever the threshold is set to now)."""
    saved = adjoint.ADJOINT_STEPS
    adjoint.ADJOINT_STEPS = 10**12
    try:
        return sg.grad(fn, **kw)
    finally:
        adjoint.ADJOINT_STEPS = saved


def _of(expr):
    return lambda x, y: expr.subs({X: x, Y: y})


def _agree(pair, backend: str) -> None:
    """The tape path's gradient of a random expression against the symbolic path's, arrays and floats."""
    expr = pair[0]
    assume(hasattr(expr, "subs"))  # a constant alone: no graph
    saved = adjoint.ADJOINT_STEPS
    adjoint.ADJOINT_STEPS = 0
    try:
        got_fn = sg.grad(_of(expr), argnums=(0, 1), backend=backend, verify=False)
    finally:
        adjoint.ADJOINT_STEPS = saved
    want_fn = _symbolic(_of(expr), argnums=(0, 1), verify=False)
    with np.errstate(all="ignore"):
        got = np.broadcast_to(np.array(got_fn(*POINTS), dtype=float), (2, POINTS.shape[1]))
        want = np.broadcast_to(np.array(want_fn(*POINTS), dtype=float), (2, POINTS.shape[1]))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=str(expr))
    with np.errstate(all="ignore"):
        scalar = got_fn(float(POINTS[0, 0]), float(POINTS[1, 0]))  # the scalar path (numpy), on the same tape
    np.testing.assert_allclose(np.array(scalar, dtype=float), want[:, 0], rtol=1e-10, atol=1e-12)


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(UNARY, BINARY, LEAVES, 10))
def test_random_expressions_agree_with_the_symbolic_gradient(pair):
    _agree(pair, "numpy")


@needs_cc
@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(UNARY, BINARY, LEAVES, 10))
def test_random_expressions_on_the_c_tape_interpreter(pair):
    _agree(pair, "c")


def test_most_random_expressions_take_the_tape(taped):
    """The property tests above are not vacuous: the smooth tables' expressions all take the tape path."""
    for name, (fn, _) in SMOOTH_UNARY.items():
        g = sg.grad(lambda x, y, fn=fn: fn(x * y + 0.5), argnums=(0, 1), verify=False)
        assert isinstance(g, TapedGradient), name
    for name, (fn, _) in SMOOTH_BINARY.items():
        g = sg.grad(lambda x, y, fn=fn: fn(sg.sin(x), y + 1), argnums=(0, 1), verify=False)
        assert isinstance(g, TapedGradient), name


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_chain_past_the_threshold_is_taped_and_exact(backend):
    g = sg.grad(lambda x: wl.gchain(x, 1500), backend=backend, verify=False)
    assert isinstance(g, TapedGradient)
    value, slope = wl.gchain_reference(0.3, 1500)
    assert g(0.3) == pytest.approx(slope, rel=1e-12)
    vg = sg.value_and_grad(lambda x: wl.gchain(x, 1500), backend=backend, verify=False)
    assert isinstance(vg, TapedGradient)
    assert vg(0.3) == pytest.approx((value, slope), rel=1e-12)
    xs = np.array([0.3, -0.7, 1.9])
    want = np.array([wl.gchain_reference(float(v), 1500) for v in xs])
    np.testing.assert_allclose(g(xs), want[:, 1], rtol=1e-12)
    np.testing.assert_allclose(np.array(vg(xs)), want.T, rtol=1e-12)
    assert vg._built is None
    assert vg.outputs[0] is vg._root  # the value, then the symbolic gradient built now


def test_below_the_threshold_the_symbolic_path_builds_the_kernel():
    g = sg.grad(lambda x: wl.gchain(x, 50), verify=False)
    assert type(g) is sg.Compiled


def test_the_symbolic_gradient_is_built_only_when_asked_for(taped):
    g = sg.grad(lambda x, y: sg.sin(x) * y + x**3, argnums=(0, 1), verify=False)
    assert isinstance(g, TapedGradient)
    assert g(0.5, 2.0) == pytest.approx((2 * np.cos(0.5) + 0.75, np.sin(0.5)))
    g(np.array([0.1, 0.2]), 3.0)
    repr(g), g.source, g.shapes, g.args
    assert g._built is None
    want = _symbolic(lambda x, y: sg.sin(x) * y + x**3, argnums=(0, 1), verify=False)
    assert all(a is b for a, b in zip(g.outputs, want.outputs))  # the same hash-consed nodes
    assert g(0.5, 2.0) == pytest.approx((2 * np.cos(0.5) + 0.75, np.sin(0.5)))


def test_pytrees_keywords_arrays_and_unused_arguments(taped):
    def f(p, v, unused):
        return sg.sum(sg.sin(p["a"] * v) + p["b"] ** 2 * v)

    shapes = {"p": {"a": (), "b": (2,)}, "v": (2,), "unused": ()}
    g = sg.grad(f, argnums=(0, 1, 2), shapes=shapes, verify=False)
    want = _symbolic(f, argnums=(0, 1, 2), shapes=shapes, verify=False)
    assert isinstance(g, TapedGradient)
    args = ({"a": 0.7, "b": np.array([0.2, -1.5])}, np.array([1.1, 0.4]), 5.0)
    got, ref = g(*args), want(*args)
    assert got[0]["a"] == pytest.approx(ref[0]["a"], rel=1e-12)
    np.testing.assert_allclose(got[0]["b"], ref[0]["b"], rtol=1e-12)
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-12)
    assert got[2] == 0.0
    kw = g(p=args[0], v=args[1], unused=args[2])
    np.testing.assert_allclose(kw[1], ref[1], rtol=1e-12)
    batch = g({"a": np.array([0.7, 0.1]), "b": np.ones((2, 2))}, np.array([[1.1, 0.4], [0.3, 0.2]]), 5.0)
    assert batch[1].shape == (2, 2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_verify_and_float32(taped, backend):
    fn = lambda x, y: sg.log1p(x**2) * sg.exp(-y) / (2 + sg.cos(x * y))
    g = sg.grad(fn, argnums=(0, 1), backend=backend, verify=True)  # builds the symbolic gradient to compare
    assert isinstance(g, TapedGradient)
    g32 = sg.grad(fn, argnums=(0, 1), backend=backend, dtype="float32", verify=False)
    x, y = np.linspace(-1, 1, 7), np.linspace(0.5, -0.5, 7)
    np.testing.assert_allclose(np.array(g32(x, y)), np.array(g(x, y)), rtol=2e-5, atol=1e-6)


def test_composes_as_the_symbolic_gradient_does(taped):
    inner = sg.grad(lambda x: sg.sin(x) * x**2, verify=False)
    assert isinstance(inner, TapedGradient)
    second = sg.grad(inner)  # the outer sweep differentiates the inner gradient's formula
    x = 0.8
    assert second(x) == pytest.approx(2 * np.sin(x) + 4 * x * np.cos(x) - x**2 * np.sin(x), rel=1e-12)
    doubled = sg.jit(lambda x: 2 * inner(x))  # called on a symbolic value: composed, not run
    assert doubled(x) == pytest.approx(2 * (2 * x * np.sin(x) + x**2 * np.cos(x)), rel=1e-12)


def test_declines_what_only_the_symbolic_sweep_gets_right(taped):
    # a select: the symbolic sweep moves the adjoint inside, so log's inf partial at 0 never meets the branch's 0
    g = sg.grad(lambda x: sg.where(x > 0, sg.log(x), 0.0) + x, verify=False)
    assert type(g) is sg.Compiled
    with np.errstate(all="ignore"):
        assert g(0.0) == 1.0
    assert type(sg.grad(lambda x: sg.abs(x) * x, verify=False)) is sg.Compiled
    wave = sg.custom_function(name="adjoint_wave")(lambda t: sg.sin(t) * t)
    assert type(sg.grad(lambda x: wave(x) * x, verify=False)) is sg.Compiled


def test_errors_are_those_of_the_symbolic_path(taped):
    z = sg.symbols("z")
    with pytest.raises(sg.TraceError, match="z"):
        sg.grad(lambda x: sg.sin(x) * z)
    with pytest.raises(sg.DiffError, match="scalar"):
        sg.grad(lambda x: sg.stack([x, x]), shapes={"x": ()})


def test_the_tape_is_what_the_listing_prints(taped):
    g = sg.grad(lambda x, y: sg.sin(x) * sg.exp(y), argnums=(0, 1), verify=False)
    source = g.source
    assert "reverse mode" in source and "def gradient(x0, x1)" in source
    assert g.statement_count == len(g.kernel.tape)
    listed = load_python(source, "gradient")  # the listing is straight-line Python: it runs
    assert listed(0.4, -0.3) == pytest.approx((np.cos(0.4) * np.exp(-0.3), np.sin(0.4) * np.exp(-0.3)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_operand_met_twice_gets_its_partials_summed_as_the_symbolic_sweep_does(taped, backend):
    """``f(u, u)``'s partials cancel or add up before they meet 0/0 or inf - inf, as the symbolic contributions do."""
    fns = {
        "arctan2": lambda x: sg.arctan2(x * (x > 0.1), x * (x > 0.1)) + x,  # u = 0 at x = -1: d/du is 0, not 0/0
        "maximum": lambda x: sg.maximum(x, x) * 2,  # at inf: sign(inf - inf) would be nan
        "minimum": lambda x: sg.minimum(x, x),
        "logaddexp": lambda x: sg.logaddexp(x, x),
    }
    xs = np.array([-1.0, 0.0, 0.7, np.inf, -np.inf])
    for name, fn in fns.items():
        g = sg.grad(fn, backend=backend, verify=False)
        assert isinstance(g, TapedGradient), name
        want = _symbolic(fn, verify=False)
        with np.errstate(all="ignore"):
            expected = np.array([want(float(x)) for x in xs])
            assert np.isfinite(expected).all(), name  # the oracle is finite everywhere here
            np.testing.assert_allclose(g(xs), expected, rtol=1e-12, err_msg=name)
            np.testing.assert_allclose([g(float(x)) for x in xs], expected, rtol=1e-12, err_msg=name)

"""Behaviours of the public API: batches and shapes, types, compile, composition, errors, edge values.

Expected values come from hand derivations, numpy, sympy or central finite
differences; shapes follow JAX's conventions (``out_shape + arg_shape`` per
derivative order, a leading batch as ``jax.vmap`` would give).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import symgrad as sg

REPO = Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(7)


def fd_jacobian(f, x, h=1e-6):
    """Central finite-difference Jacobian of f: R^n -> R^m (arrays), shape f(x).shape + x.shape."""
    x = np.asarray(x, dtype=float)
    cols = []
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = h
        e = e.reshape(x.shape)
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h))
    out = np.stack(cols, axis=-1)
    return out.reshape(np.shape(f(x)) + x.shape)


# -----------------------------------------------------------------------------------
# batch semantics
# -----------------------------------------------------------------------------------


class TestBatches:
    def test_undeclared_arg_array_is_batch(self):
        xs = np.linspace(-2, 2, 7)
        np.testing.assert_allclose(sg.compile(lambda x: x**2 + sg.sin(x))(xs), xs**2 + np.sin(xs))
        np.testing.assert_allclose(sg.grad(lambda x: x**2 + sg.sin(x))(xs), 2 * xs + np.cos(xs))
        grid = RNG.normal(size=(2, 3))
        out = sg.grad(lambda x: x**3)(grid)
        assert out.shape == (2, 3)
        np.testing.assert_allclose(out, 3 * grid**2)

    def test_declared_shape(self):
        f = sg.compile(lambda v: sg.sum(v**2), shapes={"v": (3,)})
        out = f(np.array([1.0, 2.0, 3.0]))
        assert np.shape(out) == ()
        assert float(out) == 14.0
        vs = RNG.normal(size=(4, 3))
        out = f(vs)
        assert out.shape == (4,)
        np.testing.assert_allclose(out, (vs**2).sum(axis=1))

    def test_shapes_as_sequence_and_positional_key(self):
        vs = RNG.normal(size=(2, 3))
        for shapes in ([(3,)], {0: (3,)}, {"v": 3}):
            np.testing.assert_allclose(sg.compile(lambda v: v[0] * v[2], shapes=shapes)(vs), vs[:, 0] * vs[:, 2])

    def test_batch_plus_arg_shape(self):
        g = sg.grad(lambda v: sg.sum(v**2) * v[0], shapes={"v": (3,)})
        vs = RNG.normal(size=(5, 3))
        out = g(vs)
        assert out.shape == (5, 3)
        s = (vs**2).sum(axis=1)
        expected = 2 * vs * vs[:, :1]
        expected[:, 0] += s
        np.testing.assert_allclose(out, expected)
        # a 2-D batch
        vs2 = RNG.normal(size=(2, 4, 3))
        assert g(vs2).shape == (2, 4, 3)
        np.testing.assert_allclose(g(vs2)[1, 2], g(vs2[1, 2]))

    def test_matrix_arg_with_batch(self):
        f = sg.compile(lambda m: m @ m, shapes={"m": (2, 2)})
        ms = RNG.normal(size=(3, 2, 2))
        out = f(ms)
        assert out.shape == (3, 2, 2)
        np.testing.assert_allclose(out, ms @ ms)

    def test_broadcasting_batches(self):
        x = RNG.normal(size=(3, 1))
        y = RNG.normal(size=(4,))
        f = sg.compile(lambda x, y: x * y + sg.sin(x))
        out = f(x, y)
        assert out.shape == (3, 4)
        np.testing.assert_allclose(out, x * y + np.sin(x))
        gx, gy = sg.grad(lambda x, y: x * y + sg.sin(x), argnums=(0, 1))(x, y)
        assert gx.shape == (3, 4) and gy.shape == (3, 4)
        np.testing.assert_allclose(gx, y + np.cos(x) + 0 * x)
        np.testing.assert_allclose(gy, x + 0 * y)

    def test_broadcasting_scalar_and_batch(self):
        xs = RNG.normal(size=5)
        np.testing.assert_allclose(sg.compile(lambda x, y: x * y)(xs, 2.0), 2.0 * xs)
        np.testing.assert_allclose(sg.compile(lambda x, y: x * y)(3.0, xs), 3.0 * xs)

    def test_broadcasting_with_declared_shape(self):
        f = sg.compile(lambda v, s: (v[0] - v[1]) * s, shapes={"v": (2,)})
        v = RNG.normal(size=(3, 1, 2))
        s = RNG.normal(size=(4,))
        out = f(v, s)
        assert out.shape == (3, 4)
        np.testing.assert_allclose(out, (v[..., 0] - v[..., 1]) * s)

    def test_batch_of_size_zero(self):
        out = sg.compile(lambda x: x * 2)(np.zeros((0,)))
        assert out.shape == (0,)
        out = sg.grad(lambda v: sg.sum(v**2), shapes={"v": (3,)})(np.zeros((0, 3)))
        assert out.shape == (0, 3)

    def test_large_batch_spanning_chunks(self):
        xs = np.linspace(-3, 3, 20_011)
        np.testing.assert_allclose(sg.grad(lambda x: sg.exp(sg.sin(x)))(xs), np.exp(np.sin(xs)) * np.cos(xs))


# -----------------------------------------------------------------------------------
# result shapes (as JAX: batch + out_shape + arg_shape * order)
# -----------------------------------------------------------------------------------


def vec_fn(v):  # R^3 -> R^2
    return np.array([v[0] * v[1], sg.sin(v[2]) * v[0]])


def vec_jac(v):
    return np.array([[v[1], v[0], 0.0], [np.sin(v[2]), 0.0, v[0] * np.cos(v[2])]])


class TestResultShapes:
    def test_jacobian(self):
        jac = sg.jacobian(vec_fn, shapes={"v": (3,)})
        v = RNG.normal(size=3)
        assert jac(v).shape == (2, 3)
        np.testing.assert_allclose(jac(v), vec_jac(v))
        vs = RNG.normal(size=(5, 3))
        out = jac(vs)
        assert out.shape == (5, 2, 3)
        for k in range(5):
            np.testing.assert_allclose(out[k], vec_jac(vs[k]))

    def test_jacobian_several_args(self):
        def f(v, w):
            return np.array([v[0] * w[1], v[2] * w[0] ** 2])

        jv, jw = sg.jacobian(f, argnums=(0, 1), shapes={"v": (3,), "w": (2,)})(
            np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0])
        )
        assert jv.shape == (2, 3) and jw.shape == (2, 2)
        np.testing.assert_allclose(jv, [[5.0, 0.0, 0.0], [0.0, 0.0, 16.0]])
        np.testing.assert_allclose(jw, [[0.0, 1.0], [24.0, 0.0]])

    def test_jacobian_of_scalar_arg_vector_out(self):
        jac = sg.jacobian(lambda x: np.array([x, x**2, sg.exp(x)]))
        assert jac(2.0).shape == (3,)
        np.testing.assert_allclose(jac(2.0), [1.0, 4.0, math.exp(2.0)])
        xs = np.array([0.0, 1.0])
        assert jac(xs).shape == (2, 3)

    def test_hessian(self):
        h = sg.hessian(lambda v: sg.sum(v**3) + v[0] * v[1], shapes={"v": (3,)})
        v = np.array([1.0, 2.0, -1.0])
        expected = np.diag(6 * v)
        expected[0, 1] = expected[1, 0] = 1.0
        assert h(v).shape == (3, 3)
        np.testing.assert_allclose(h(v), expected)
        vs = RNG.normal(size=(4, 3))
        out = h(vs)
        assert out.shape == (4, 3, 3)
        np.testing.assert_allclose(out[2], np.diag(6 * vs[2]) + np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]]))

    def test_hessian_vector_output(self):
        h = sg.hessian(vec_fn, shapes={"v": (3,)})
        v = RNG.normal(size=3)
        out = h(v)
        assert out.shape == (2, 3, 3)
        e0 = np.zeros((3, 3))
        e0[0, 1] = e0[1, 0] = 1.0
        e1 = np.zeros((3, 3))
        e1[0, 2] = e1[2, 0] = math.cos(v[2])
        e1[2, 2] = -v[0] * math.sin(v[2])
        np.testing.assert_allclose(out[0], e0, atol=1e-15)
        np.testing.assert_allclose(out[1], e1, atol=1e-15)
        assert h(RNG.normal(size=(5, 3))).shape == (5, 2, 3, 3)

    def test_hessian_blocks(self):
        def f(v, w):
            return sg.sum(v**2) * w[0] * w[1]

        v = np.array([1.0, 2.0, 3.0])
        w = np.array([2.0, 5.0])
        H = sg.hessian(f, argnums=(0, 1), shapes={"v": (3,), "w": (2,)})(v, w)
        assert len(H) == 2 and len(H[0]) == 2
        assert H[0][0].shape == (3, 3) and H[0][1].shape == (3, 2)
        assert H[1][0].shape == (2, 3) and H[1][1].shape == (2, 2)
        s = (v**2).sum()
        np.testing.assert_allclose(H[0][0], 2 * w[0] * w[1] * np.eye(3))
        np.testing.assert_allclose(H[0][1], np.stack([2 * v * w[1], 2 * v * w[0]], axis=1))
        np.testing.assert_allclose(H[1][0], H[0][1].T)
        np.testing.assert_allclose(H[1][1], [[0.0, s], [s, 0.0]])

    def test_derivative_order_three(self):
        d3 = sg.derivative(lambda v: v[0] ** 2 * v[1] + v[1] ** 3, 3, shapes={"v": (2,)})
        v = np.array([1.5, -2.0])
        out = d3(v)
        assert out.shape == (2, 2, 2)
        expected = np.zeros((2, 2, 2))
        # d3/dv0 dv0 dv1 = 2 (and permutations), d3/dv1^3 = 6
        for idx in [(0, 0, 1), (0, 1, 0), (1, 0, 0)]:
            expected[idx] = 2.0
        expected[1, 1, 1] = 6.0
        np.testing.assert_allclose(out, expected)
        assert d3(RNG.normal(size=(4, 2))).shape == (4, 2, 2, 2)

    def test_derivative_scalar(self):
        d = sg.derivative(lambda x: sg.sin(x), 4)
        assert d(0.7) == pytest.approx(math.sin(0.7), rel=1e-12)
        xs = np.array([0.1, 0.2, 0.3])
        np.testing.assert_allclose(sg.derivative(lambda x: sg.exp(2 * x), 5)(xs), 32 * np.exp(2 * xs))
        assert sg.derivative(lambda x: x**3, 0)(2.0) == 8.0


# -----------------------------------------------------------------------------------
# types: plain floats, float32
# -----------------------------------------------------------------------------------


class TestTypes:
    def test_floats_in_floats_out(self):
        assert type(sg.compile(lambda x, y: x * y + 1)(2.0, 3.0)) is float
        assert type(sg.grad(lambda x: x**3)(2.0)) is float
        assert type(sg.hessian(lambda x: x**3)(2.0)) is float
        assert type(sg.jacobian(lambda x: x**3)(2.0)) is float
        assert type(sg.derivative(lambda x: x**4, 3)(2.0)) is float
        v, g = sg.value_and_grad(lambda x, y: x * y, argnums=(0, 1))(2.0, 3.0)
        assert type(v) is float and all(type(t) is float for t in g)
        assert v == 6.0 and g == (3.0, 2.0)
        primal, tangent = sg.jvp(lambda x: x**2, (3.0,), (1.0,))
        assert type(primal) is float and type(tangent) is float
        assert (primal, tangent) == (9.0, 6.0)

    @pytest.mark.parametrize(
        "fn, x, expected",
        [
            (sg.sign, 2.0, 1.0),
            (sg.sign, -3.0, -1.0),
            (sg.sign, 0.0, 0.0),
            (sg.relu, -2.0, 0.0),
            (lambda x: abs(x), -2.0, 2.0),
            (lambda x: sg.where(x > 0, 1, 0), 2.0, 1.0),
            (lambda x: sg.maximum(x, 0), -2.0, 0.0),
        ],
        ids=["sign+", "sign-", "sign0", "relu", "abs", "where", "maximum"],
    )
    def test_floats_in_floats_out_piecewise(self, fn, x, expected):
        out = sg.compile(fn)(x)
        assert type(out) is float
        assert out == expected
        assert np.asarray(sg.compile(fn)(np.array([x])))[0] == expected

    def test_grad_through_sign_is_float(self):
        # d/dx (sign(x) * x) = sign(x) (sign's own derivative is 0)
        g = sg.grad(lambda x: sg.sign(x) * x)
        assert type(g(0.0)) is float and g(0.0) == 0.0
        assert type(g(-2.0)) is float and g(-2.0) == -1.0

    def test_constant_outputs_follow_batch(self):
        out = sg.grad(lambda x: 3.0)(np.ones(5))
        assert out.shape == (5,)
        np.testing.assert_array_equal(out, np.zeros(5))
        assert sg.grad(lambda x: 3.0)(2.0) == 0.0
        first, second = sg.compile(lambda x: (x, 1.0))(np.array([3.0, 4.0]))
        np.testing.assert_array_equal(first, [3.0, 4.0])
        np.testing.assert_array_equal(second, [1.0, 1.0])
        out = sg.compile(lambda x, y: x)(2.0, np.ones(4))
        np.testing.assert_array_equal(out, [2.0] * 4)

    def test_ints_in_floats_out(self):
        # Python ints are numbers like floats: the results are floats, as numpy (and JAX) give
        out = sg.compile(lambda x: x**2)(3)
        assert type(out) is float and out == 9.0
        out = sg.compile(lambda x, y: x * y)(2, 5)
        assert type(out) is float and out == 10.0
        # no exact big-integer arithmetic: 10**200 squared overflows to inf as in float64
        with np.errstate(over="ignore"):
            assert sg.compile(lambda x: x**2)(10**200) == np.float64(1e200) ** 2

    def test_numpy_scalars(self):
        out = sg.compile(lambda x: x * 2)(np.float64(1.5))
        assert out == 3.0

    def test_float32(self):
        f = sg.compile(lambda x: x * 3.0 + 1.0, dtype="float32")
        out = f(np.array([1.0, 2.0]))
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, np.array([4.0, 7.0], dtype=np.float32))
        assert np.asarray(f(1.5)).dtype == np.float32
        assert f(1.5) == 5.5

    def test_float32_inputs_cast(self):
        # 1 + 1e-10 is 1.0 in float32: the input is rounded before computing
        out = sg.compile(lambda x: x * 1.0 + 0.0 * x, dtype="float32")(np.array([1.0 + 1e-10]))
        assert out.dtype == np.float32 and out[0] == np.float32(1.0)
        out = sg.compile(lambda x: x - 1.0, dtype="float32")(np.array([1.0 + 1e-10], dtype=np.float64))
        assert out[0] == np.float32(0.0)
        ints = sg.grad(lambda x: x**2, dtype="float32")(np.arange(3))
        assert ints.dtype == np.float32
        np.testing.assert_array_equal(ints, [0.0, 2.0, 4.0])

    def test_float32_transforms(self):
        vs = RNG.normal(size=(3, 2))
        h = sg.hessian(lambda v: v[0] ** 2 * v[1], shapes={"v": (2,)}, dtype="float32")(vs)
        assert h.dtype == np.float32 and h.shape == (3, 2, 2)
        v32 = vs.astype(np.float32).astype(np.float64)
        np.testing.assert_allclose(h[:, 0, 0], 2 * v32[:, 1], rtol=1e-6)
        np.testing.assert_allclose(h[:, 0, 1], 2 * v32[:, 0], rtol=1e-6)

    def test_float64_default_keeps_precision(self):
        out = sg.compile(lambda x: x - 1.0)(np.array([1.0 + 1e-10]))
        assert out.dtype == np.float64
        assert out[0] == pytest.approx(1e-10, rel=1e-5)


# -----------------------------------------------------------------------------------
# sg.compile of expressions; source; outputs
# -----------------------------------------------------------------------------------


class TestCompileExpressions:
    def test_single_expression(self):
        x, y = sg.symbols("x y")
        f = sg.compile(x * y + 1, [x, y])
        assert f(2.0, 3.0) == 7.0
        np.testing.assert_allclose(f(np.array([1.0, 2.0]), 3.0), [4.0, 7.0])

    def test_input_order(self):
        x, y = sg.symbols("x y")
        assert sg.compile(x - y, [y, x])(1.0, 5.0) == 4.0

    def test_array_gives_array(self):
        x, y = sg.symbols("x y")
        out = sg.compile(np.array([[x, y], [x * y, 1]]), [x, y])(2.0, 3.0)
        assert isinstance(out, np.ndarray) and out.shape == (2, 2)
        np.testing.assert_allclose(out, [[2.0, 3.0], [6.0, 1.0]])
        out = sg.compile(np.array([x, y * 2]), [x, y])(np.zeros(4), np.ones(4))
        assert out.shape == (4, 2)
        np.testing.assert_allclose(out, np.tile([0.0, 2.0], (4, 1)))

    @pytest.mark.parametrize("container", [list, tuple])
    def test_list_or_tuple_gives_tuple(self, container):
        x, y = sg.symbols("x y")
        out = sg.compile(container([x + y, np.array([x, y]), x * y]), [x, y])(2.0, 3.0)
        assert isinstance(out, tuple) and len(out) == 3
        assert out[0] == 5.0
        np.testing.assert_allclose(out[1], [2.0, 3.0])
        assert out[2] == 6.0

    def test_array_symbol_input(self):
        v = sg.symbols("v", shape=(3,))
        f = sg.compile(sg.sum(v * v), [v])
        assert f(np.array([1.0, 2.0, 3.0])) == 14.0
        np.testing.assert_allclose(f(np.ones((2, 3))), [3.0, 3.0])

    def test_constant_expression(self):
        x = sg.symbols("x")
        out = sg.compile(sg.diff(x * 3, x), [x])
        assert out(5.0) == 3.0
        np.testing.assert_array_equal(out(np.ones(4)), [3.0] * 4)

    def test_source_has_def_and_is_deterministic(self):
        def f(x, y):
            return sg.exp(x * y) + sg.sin(x) ** 2 + y / (1 + x**2)

        a = sg.grad(f, argnums=(0, 1))
        b = sg.grad(f, argnums=(0, 1))
        assert "def " in a.source
        assert a.source == b.source
        assert sg.compile(f).source == sg.compile(f).source

    def test_source_same_in_another_process(self):
        code = textwrap.dedent(
            """
            import symgrad as sg
            def f(x, y, z):
                return sg.exp(x * y) + sg.sin(x) ** 2 * z + y / (1 + x**2 + z**2)
            print(sg.hessian(f, argnums=(0, 1, 2)).source)
            """
        )
        outs = []
        for seed in ("1", "12345"):
            env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": seed}
            res = subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False
            )
            assert res.returncode == 0, res.stderr
            outs.append(res.stdout)
        assert "def " in outs[0]
        assert outs[0] == outs[1]

    def test_outputs_printable(self):
        g = sg.grad(lambda x: x**3)
        assert str(g.outputs) == "3*x**2"
        h = sg.hessian(lambda v: v[0] ** 2 * v[1], shapes={"v": (2,)})
        text = str(h.outputs)
        assert "v[1]" in text and "v[0]" in text
        assert isinstance(repr(h), str)
        vj = sg.jacobian(vec_fn, shapes={"v": (3,)})
        assert np.asarray(vj.outputs, dtype=object).shape == (2, 3)
        str(vj.outputs)


# -----------------------------------------------------------------------------------
# composition of transforms
# -----------------------------------------------------------------------------------


class TestComposition:
    def test_grad_of_grad(self):
        def f(x):
            return sg.sin(x) * x

        g2 = sg.grad(sg.grad(f))
        for x in (0.3, -1.7):
            assert g2(x) == pytest.approx(2 * math.cos(x) - x * math.sin(x), rel=1e-12)
        g3 = sg.grad(sg.grad(sg.grad(f)))
        assert g3(0.3) == pytest.approx(-3 * math.sin(0.3) - 0.3 * math.cos(0.3), rel=1e-12)

    def test_hessian_of_compiled_keeps_shapes(self):
        c = sg.compile(lambda v: sg.sum(v**3) * v[0], shapes={"v": (2,)})
        h = sg.hessian(c)
        v = np.array([1.0, 2.0])
        out = h(v)
        assert out.shape == (2, 2)
        # f = v0^4 + v1^3 v0: H = [[12 v0^2, 3 v1^2], [3 v1^2, 6 v1 v0]]
        np.testing.assert_allclose(out, [[12.0, 12.0], [12.0, 12.0]])
        assert sg.grad(c)(v).shape == (2,)
        np.testing.assert_allclose(sg.grad(c)(v), [4 + 8.0, 3 * 4 * 1.0])

    def test_grad_with_shapes_then_jacobian(self):
        g = sg.grad(lambda v: sg.sum(sg.exp(v)) * v[1], shapes={"v": (3,)})
        v = RNG.normal(size=3)
        jac = sg.jacobian(g)(v)
        hes = sg.hessian(lambda v: sg.sum(sg.exp(v)) * v[1], shapes={"v": (3,)})(v)
        np.testing.assert_allclose(jac, hes, rtol=1e-12)
        np.testing.assert_allclose(jac, fd_jacobian(g, v), rtol=1e-6, atol=1e-8)

    def test_compiled_called_inside_traced_function(self):
        inner = sg.compile(lambda x: sg.sin(x) * x)
        outer = sg.grad(lambda x: inner(x) ** 2)
        x = 0.8
        f = math.sin(x) * x
        assert outer(x) == pytest.approx(2 * f * (math.cos(x) * x + math.sin(x)), rel=1e-12)

    def test_value_and_grad(self):
        def f(v, s):
            return sg.sum(v**2) * s

        vg = sg.value_and_grad(f, argnums=(0, 1), shapes={"v": (3,)})
        vs = RNG.normal(size=(4, 3))
        s = RNG.normal(size=4)
        value, (gv, gs) = vg(vs, s)
        assert value.shape == (4,) and gv.shape == (4, 3) and gs.shape == (4,)
        np.testing.assert_allclose(value, (vs**2).sum(1) * s)
        np.testing.assert_allclose(gv, 2 * vs * s[:, None])
        np.testing.assert_allclose(gs, (vs**2).sum(1))
        value1, g1 = sg.value_and_grad(lambda x: x**3)(2.0)
        assert (value1, g1) == (8.0, 12.0)


# -----------------------------------------------------------------------------------
# jvp / vjp / hvp against jacobian / hessian products
# -----------------------------------------------------------------------------------


def two_arg_fn(v, w):  # R^3 x R^2 -> R^2
    return np.array([v[0] * w[1] + sg.sin(v[2]), sg.exp(w[0]) * v[1] ** 2])


def two_arg_np(v, w):
    return np.array([v[0] * w[1] + np.sin(v[2]), np.exp(w[0]) * v[1] ** 2])


SHAPES2 = {"v": (3,), "w": (2,)}


class TestProducts:
    def setup_method(self):
        self.v = RNG.normal(size=3)
        self.w = RNG.normal(size=2)
        self.jv, self.jw = sg.jacobian(two_arg_fn, argnums=(0, 1), shapes=SHAPES2)(self.v, self.w)

    def test_jacobian_against_fd(self):
        np.testing.assert_allclose(self.jv, fd_jacobian(lambda v: two_arg_np(v, self.w), self.v), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(self.jw, fd_jacobian(lambda w: two_arg_np(self.v, w), self.w), rtol=1e-6, atol=1e-8)

    def test_jvp(self):
        tv, tw = RNG.normal(size=3), RNG.normal(size=2)
        primal, tangent = sg.jvp(two_arg_fn, (self.v, self.w), (tv, tw), shapes=SHAPES2)
        np.testing.assert_allclose(primal, sg.compile(two_arg_fn, shapes=SHAPES2)(self.v, self.w))
        np.testing.assert_allclose(tangent, self.jv @ tv + self.jw @ tw, rtol=1e-12)

    def test_vjp(self):
        ct = RNG.normal(size=2)
        primal, back = sg.vjp(two_arg_fn, self.v, self.w, shapes=SHAPES2)
        np.testing.assert_allclose(primal, sg.compile(two_arg_fn, shapes=SHAPES2)(self.v, self.w))
        gv, gw = back(ct)
        np.testing.assert_allclose(gv, ct @ self.jv, rtol=1e-12)
        np.testing.assert_allclose(gw, ct @ self.jw, rtol=1e-12)

    def test_vjp_single_arg_returns_tuple(self):
        primal, back = sg.vjp(lambda x: sg.sin(x) * 2, 0.5)
        assert primal == pytest.approx(2 * math.sin(0.5))
        out = back(1.0)
        assert isinstance(out, tuple) and len(out) == 1
        assert out[0] == pytest.approx(2 * math.cos(0.5))

    def test_vjp_tuple_outputs(self):
        primal, back = sg.vjp(lambda x, y: (x * y, x + y), 2.0, 3.0)
        assert primal == (6.0, 5.0)
        # cotangents (1, 1): d(xy + x + y) = (y + 1, x + 1)
        assert back(1.0, 1.0) == (4.0, 3.0)
        assert back(2.0, 0.0) == (6.0, 4.0)

    def test_hvp(self):
        def f(v):
            return sg.sum(v**3) * v[0] + sg.exp(v[1] * v[2])

        v = RNG.normal(size=3)
        t = RNG.normal(size=3)
        H = sg.hessian(f, shapes={"v": (3,)})(v)
        out = sg.hvp(f, (v,), (t,), shapes={"v": (3,)})
        np.testing.assert_allclose(out, H @ t, rtol=1e-12)
        g = sg.grad(f, shapes={"v": (3,)})
        np.testing.assert_allclose(H, fd_jacobian(g, v), rtol=1e-6, atol=1e-7)

    def test_hvp_scalar(self):
        assert sg.hvp(lambda x: x**4, (2.0,), (3.0,)) == pytest.approx(12 * 4 * 3)

    def test_jvp_scalar_matches_derivative(self):
        x = 0.4
        primal, tangent = sg.jvp(lambda x: sg.tanh(x) * x, (x,), (1.0,))
        assert primal == pytest.approx(math.tanh(x) * x)
        assert tangent == pytest.approx(sg.grad(lambda x: sg.tanh(x) * x)(x), rel=1e-12)
        assert tangent == pytest.approx((1 - math.tanh(x) ** 2) * x + math.tanh(x), rel=1e-12)


# -----------------------------------------------------------------------------------
# errors: symgrad's own classes, raised before any output
# -----------------------------------------------------------------------------------


class TestErrors:
    def test_wrong_number_of_args(self):
        f = sg.compile(lambda x, y: x * y)
        with pytest.raises(sg.InputError):
            f(1.0)
        with pytest.raises(sg.InputError):
            f(1.0, 2.0, 3.0)
        with pytest.raises(sg.InputError):
            sg.grad(lambda x, y: x * y)(np.ones(3))

    def test_non_broadcasting_batches(self):
        f = sg.compile(lambda x, y: x * y)
        with pytest.raises(sg.ShapeError) as info:
            f(np.ones(3), np.ones(4))
        msg = str(info.value)
        assert "x" in msg and "y" in msg
        assert "(3,)" in msg and "(4,)" in msg
        assert isinstance(info.value, sg.SymgradError)

    def test_wrong_trailing_shape(self):
        f = sg.compile(lambda v: sg.sum(v), shapes={"v": (3,)})
        with pytest.raises(sg.ShapeError):
            f(np.ones(4))
        with pytest.raises(sg.ShapeError):
            f(np.ones((2, 4)))
        with pytest.raises(sg.ShapeError):
            f(1.0)
        with pytest.raises(sg.ShapeError):
            sg.grad(lambda m: sg.sum(m), shapes={"m": (2, 2)})(np.ones((2, 3)))

    @pytest.mark.parametrize(
        "bad",
        [1 + 2j, np.array([1.0 + 1j, 2.0]), np.array(["a", "b"]), "abc", np.array([object(), object()]), None],
        ids=["complex", "complex-array", "str-array", "str", "object-array", "None"],
    )
    def test_bad_input_kinds(self, bad):
        f = sg.compile(lambda x, y: x + y)
        with pytest.raises(sg.InputError):
            f(bad, 1.0)
        with pytest.raises(sg.InputError):
            sg.grad(lambda x: x**2)(bad)

    def test_diff_wrt_non_symbol(self):
        x, y = sg.symbols("x y")
        e = x**2 * y
        for bad in (x + 1, 2 * x, x * y, 2.5):
            with pytest.raises(sg.DiffError):
                sg.diff(e, bad)
        with pytest.raises(sg.DiffError):
            sg.gradient(e, [x, x * y])
        with pytest.raises(sg.DiffError):
            sg.jacobian(np.array([e, x]), [x**2])
        with pytest.raises(sg.DiffError):
            sg.hessian(e, [sg.sin(x)])

    def test_python_if_on_traced_value(self):
        def f(x):
            if x > 0:
                return x
            return -x

        for transform in (sg.compile, sg.grad, sg.hessian):
            with pytest.raises(sg.TraceError) as info:
                transform(f)
            assert "where" in str(info.value)

    def test_python_if_on_a_traced_array(self):
        """An array of several conditions: a TraceError too (it was numpy's plain ValueError), still a ValueError."""

        def f(v):
            return sg.sum(v) if v > 0 else -sg.sum(v)

        with pytest.raises(sg.TraceError, match="where") as info:
            sg.grad(f, shapes={"v": (3,)})(np.ones(3))
        assert isinstance(info.value, ValueError)

    @pytest.mark.parametrize("name", ["floor", "ceil", "trunc", "deg2rad", "rint"])
    def test_unsupported_ufunc(self, name):
        ufunc = getattr(np, name)
        with pytest.raises(sg.UnsupportedOpError) as info:
            sg.compile(lambda x: ufunc(x) + x)
        assert name in str(info.value)
        x = sg.symbols("x")
        with pytest.raises(sg.UnsupportedOpError):
            ufunc(x)

    def test_errors_are_symgrad_errors(self):
        for cls in (sg.InputError, sg.ShapeError, sg.DiffError, sg.TraceError, sg.UnsupportedOpError):
            assert issubclass(cls, sg.SymgradError)


# -----------------------------------------------------------------------------------
# nan / inf like numpy, on both paths
# -----------------------------------------------------------------------------------


NAN_INF_CASES = [
    (lambda x: sg.log(x), np.log, -1.0),
    (lambda x: sg.log(x), np.log, 0.0),
    (lambda x: 1 / x, lambda x: np.float64(1.0) / x, 0.0),
    (lambda x: -1 / x, lambda x: np.float64(-1.0) / x, 0.0),
    (lambda x: sg.sqrt(x), np.sqrt, -1.0),
    (lambda x: sg.exp(x), np.exp, 1000.0),
    (lambda x: x**3.5, lambda x: np.float64(x) ** 3.5, 1e200),
    (lambda x: sg.arcsin(x), np.arcsin, 2.0),
    (lambda x: x * 2 + 1, lambda x: x * 2 + 1, math.nan),
    (lambda x: x * 2 + 1, lambda x: x * 2 + 1, math.inf),
]
NAN_INF_IDS = [
    "log(-1)",
    "log(0)",
    "1/0",
    "-1/0",
    "sqrt(-1)",
    "exp(1000)",
    "pow-overflow",
    "arcsin(2)",
    "nan-in",
    "inf-in",
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
class TestNanInf:
    @pytest.mark.parametrize("fn, npfn, x", NAN_INF_CASES, ids=NAN_INF_IDS)
    def test_scalar_and_array_paths(self, fn, npfn, x):
        with np.errstate(all="ignore"):
            expected = np.float64(npfn(np.float64(x)))
        f = sg.compile(fn)
        scalar = f(x)
        array = f(np.array([x, 0.5]))
        np.testing.assert_array_equal(np.float64(scalar), expected)
        np.testing.assert_array_equal(array[0], expected)

    @pytest.mark.parametrize("fn, npfn, x", NAN_INF_CASES, ids=NAN_INF_IDS)
    def test_scalar_path_type(self, fn, npfn, x):
        """Plain float in, plain float out, also where the result is nan or inf."""
        assert type(sg.compile(fn)(x)) is float

    def test_derivative_inf(self):
        g = sg.grad(lambda x: sg.log(x))
        assert g(0.0) == math.inf
        np.testing.assert_array_equal(g(np.array([0.0, 2.0])), [math.inf, 0.5])
        assert math.isnan(sg.grad(lambda x: sg.sqrt(x))(-1.0))


# -----------------------------------------------------------------------------------
# where, and the kink conventions of JAX
# -----------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
class TestWhereAndKinks:
    def test_where_is_branch_free(self):
        f = sg.compile(lambda x: sg.where(x > 0, x**2, -x))
        xs = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
        np.testing.assert_allclose(f(xs), np.where(xs > 0, xs**2, -xs))
        assert f(-2.0) == 2.0 and f(3.0) == 9.0
        g = sg.grad(lambda x: sg.where(x > 0, x**2, -x))
        np.testing.assert_allclose(g(xs), np.where(xs > 0, 2 * xs, -1.0))
        assert g(-2.0) == -1.0 and g(3.0) == 6.0

    def test_where_branch_not_taken_does_not_leak_nan(self):
        f = sg.compile(lambda x: sg.where(x > 0, sg.log(x), 0.0))
        g = sg.grad(lambda x: sg.where(x > 0, sg.sqrt(x), 0.0))
        xs = np.array([-1.0, 0.0, 4.0])
        np.testing.assert_array_equal(f(xs), [0.0, 0.0, math.log(4.0)])
        np.testing.assert_array_equal(g(xs), [0.0, 0.0, 0.25])
        assert f(-1.0) == 0.0 and g(-1.0) == 0.0

    def test_abs_kink(self):
        assert sg.grad(lambda x: sg.abs(x))(0.0) == 1.0
        assert sg.grad(lambda x: abs(x))(0.0) == 1.0
        assert sg.grad(lambda x: np.abs(x))(0.0) == 1.0
        np.testing.assert_array_equal(sg.grad(sg.abs)(np.array([-2.0, 0.0, 3.0])), [-1.0, 1.0, 1.0])

    def test_relu_kink(self):
        assert sg.grad(sg.relu)(0.0) == 0.0
        np.testing.assert_array_equal(sg.grad(sg.relu)(np.array([-1.0, 0.0, 2.0])), [0.0, 0.0, 1.0])

    def test_maximum_minimum_tie(self):
        for fn in (sg.maximum, sg.minimum, np.maximum, np.minimum):
            g = sg.grad(lambda x, y, fn=fn: fn(x, y), argnums=(0, 1))
            assert g(1.0, 1.0) == (0.5, 0.5)
            gx, gy = g(np.array([1.0, 2.0]), np.array([1.0, 2.0]))
            np.testing.assert_array_equal(gx, [0.5, 0.5])
            np.testing.assert_array_equal(gy, [0.5, 0.5])
        assert sg.grad(sg.maximum, argnums=(0, 1))(2.0, 1.0) == (1.0, 0.0)
        assert sg.grad(sg.minimum, argnums=(0, 1))(2.0, 1.0) == (0.0, 1.0)
        # maximum(x, x) = x has derivative 0.5 + 0.5 = 1
        assert sg.grad(lambda x: sg.maximum(x, 2 * x - x))(1.5) == 1.0


# -----------------------------------------------------------------------------------
# deep and wide graphs: no RecursionError
# -----------------------------------------------------------------------------------

STEPS = 100_000
STEP = 1e-5
CHAIN_LIMIT_S = 120
COMPILED_STEPS = 20_000  # code is cut into parts; compiling all 10^5 steps: tests/codegen/test_scale.py (slow)
CHAIN_MEMORY_BYTES = 6 * 2**30  # a runaway child fails with MemoryError instead of starving the machine


def _limit_memory():  # runs in the child before exec
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (CHAIN_MEMORY_BYTES, CHAIN_MEMORY_BYTES))
    except (ImportError, ValueError, OSError):
        pass


_CHAIN_SCRIPT = """
import json, sys, time
import numpy as np
import symgrad as sg
from symgrad.ir.evaluate import evaluate
steps, step, x0, compiled_steps = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
def phase(name):
    print(json.dumps({"phase": name, "t": time.perf_counter() - T0}), flush=True)
T0 = time.perf_counter()
x = sg.symbols("x")
y = x
for i in range(steps):
    y = sg.sin(y) * step + y
    if i + 1 == compiled_steps:
        short = y
phase("built")
d = sg.diff(y, x)
phase("differentiated")
reference = [float(v) for v in evaluate([y, d], {x: x0})]
phase("interpreted")
f = sg.compile([short, sg.diff(short, x)], [x])
scalar = f(x0)
array = f(np.array([x0, x0]))
phase("compiled")
print(json.dumps({"reference": reference, "scalar": list(scalar), "array": [a.tolist() for a in array]}), flush=True)
"""


def _chain_oracle(x0: float, steps: int) -> tuple[float, float]:
    y, dy = x0, 1.0
    for _ in range(steps):
        y, dy = math.sin(y) * STEP + y, dy * (math.cos(y) * STEP + 1.0)
    return y, dy


def test_deep_chain_builds_differentiates_compiles():
    """A 100,000-step Python loop (y = sin(y)*h + y): built and differentiated with no recursion limit.

    The whole chain's value and derivative come from the reference interpreter;
    a 20,000-step prefix (a graph of ~1.3*10^5 scheduled steps, cut into parts) also goes
    through code generation and compilation on both call paths.
    """
    x0 = 0.3
    y, dy = _chain_oracle(x0, STEPS)
    # sanity of the oracle: Euler steps of y' = sin(y) over t = 1, where tan(y/2) = tan(x0/2) e^t
    assert y == pytest.approx(2 * math.atan(math.tan(x0 / 2) * math.e), rel=1e-4)
    assert dy == pytest.approx(math.sin(y) / math.sin(x0), rel=1e-4)
    ys, dys = _chain_oracle(x0, COMPILED_STEPS)

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        res = subprocess.run(
            [sys.executable, "-c", _CHAIN_SCRIPT, str(STEPS), repr(STEP), repr(x0), str(COMPILED_STEPS)],
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=CHAIN_LIMIT_S,
            preexec_fn=_limit_memory,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        pytest.fail(f"a {STEPS}-step chain did not finish in {CHAIN_LIMIT_S} s; progress: {out.strip() or 'none'}")
    assert "RecursionError" not in res.stderr, res.stderr[-2000:]
    assert res.returncode == 0, res.stderr[-2000:]
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    values = next(line for line in lines if "scalar" in line)
    assert values["reference"] == pytest.approx([y, dy], rel=1e-9)
    assert values["scalar"] == pytest.approx([ys, dys], rel=1e-9)
    assert values["array"][0] == pytest.approx([ys, ys], rel=1e-9)
    assert values["array"][1] == pytest.approx([dys, dys], rel=1e-9)


def test_wide_product_compiles():
    """An n-ary product of thousands of factors (as reverse mode makes along a chain) compiles and runs."""
    n = 3000
    x = sg.symbols("x")
    shifts = np.linspace(0.0, 1.0, n)
    e = sg.prod(np.array([1.0 + 0.001 * sg.sin(x + float(s)) for s in shifts]))
    f = sg.compile(e, [x])
    expected = float(np.prod(1.0 + 0.001 * np.sin(0.5 + shifts)))
    assert f(0.5) == pytest.approx(expected, rel=1e-12)
    assert f(np.array([0.5]))[0] == pytest.approx(expected, rel=1e-12)


def test_wide_sum_compiles():
    n = 5000
    x = sg.symbols("x")
    e = sg.sum(np.array([sg.sin(x * float(k)) for k in range(1, n + 1)]))
    f = sg.compile(e, [x])
    expected = float(np.sum(np.sin(0.25 * np.arange(1, n + 1))))
    assert f(0.25) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert f(np.array([0.25]))[0] == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_vmap_of_a_sparse_hessian_function_says_what_to_do():
    H = sg.hessian(lambda w: sg.sum(w**3), shapes={"w": (3,)}, sparse=True)
    with pytest.raises(sg.InputError, match="call it on the batch directly"):
        sg.vmap(H)  # was "cannot tell how many arguments the function takes (it has *args)"
    for transform in (sg.grad, sg.compile):  # the same refusal wherever a function is traced
        with pytest.raises(sg.InputError, match="SparseHessianFunction.*call it on the batch directly"):
            transform(H)
    assert H(np.ones((4, 3))).values.shape == (4, 3)


def test_an_input_given_twice_is_refused_as_sympy_does():
    x = sg.symbols("x")
    a = sg.symbols("a", shape=(2,))
    with pytest.raises(sg.InputError, match="x twice"):
        sg.lambdify([x, x], 2 * x)  # the last value silently won: 6.0 for (2.0, 3.0)
    with pytest.raises(sg.InputError, match=r"a\[0\] twice"):
        sg.compile(10 * a[0] + a[1], inputs=[a, a[0]])


def test_diff_takes_sympys_variable_count_pairs():
    x, y = sg.symbols("x y")
    e = x**3 * y**2
    assert sg.diff(e, (x, 2)) is sg.diff(e, x, 2)  # was a DiffError: "got 2"
    assert sg.diff(e, (x, 2), y) is sg.diff(e, x, x, y) and e.diff((x, 2)) is sg.diff(e, x, 2)
    assert sg.diff("x**3*y", ("x", 2)) is sg.diff(sg.parse_formula("x**3*y").value, x, 2)
    assert list(sg.diff(e, (x, y))) == [sg.diff(e, x), sg.diff(e, y)]  # a tuple of variables: still the gradient


def test_diff_by_an_array_symbol_k_times_is_sympys_derivative_array():
    """sympy's diff(f, A, 2) (and (A, 2), A, A, diff(f, y, A)): a DiffError 'can only differentiate with respect to
    symbols, got SymbolicArray'. Axes: e's, then each array's, as sg.jacobian's; entries: sympy's partials."""
    import itertools

    import sympy as sp

    a, y = sg.symbols("a", shape=(3,)), sg.symbols("y")
    sa, sy = sp.symbols("a0:3", real=True), sp.Symbol("y", real=True)
    e = sg.exp(a[0] * a[1]) * sg.sin(a[2]) * y**2 + a[1] ** 3
    se = sp.exp(sa[0] * sa[1]) * sp.sin(sa[2]) * sy**2 + sa[1] ** 3
    at, sat = [0.3, -0.7, 1.1, 1.4], {sa[0]: 0.3, sa[1]: -0.7, sa[2]: 1.1, sy: 1.4}
    for spec, k, first in (((a, 2), 2, ()), ((a, a), 2, ()), (((a, 3),), 3, ()), ((y, a, 2), 2, (sy,))):
        d = sg.diff(e, *spec)
        assert d.shape == (3,) * k, spec
        f = sg.lambdify([a, y], d)
        got = f(np.array(at[:3]), at[3])
        for idx in itertools.product(range(3), repeat=k):
            want = float(sp.diff(se, *first, *[sa[i] for i in idx]).subs(sat))
            assert got[idx] == pytest.approx(want, rel=1e-12), (spec, idx)
    with pytest.raises(sg.DiffError, match="order must be >= 0"):
        sg.diff(e, a, -1)

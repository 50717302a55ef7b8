"""The worked examples of the course notes (N1-N19), as tests.

Every expected value below is worked out by hand (shown in the comments) or by an
independent oracle (sympy, numpy, central finite differences); none was obtained
by running symgrad.  Where the notes contain a slip, the test asserts the right
value and that the notes' value differs from it.

Each example is checked at both layers where it makes sense:
- the expression layer: ``sg.symbols``, ``sg.diff``, ``sg.gradient``, ``sg.hessian``,
  ``str()`` of the results, ``sg.compile(exprs, inputs)``;
- the function layer: ``sg.grad`` / ``hessian`` / ``jacobian`` / ``vjp`` / ``jvp`` /
  ``derivative`` on plain Python functions, called with floats and arrays.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

import symgrad as sg

RNG = np.random.default_rng(20240611)


def fd_grad(f, args, i, h=1e-6):
    """Central finite difference of the scalar f(*args) in its i-th (scalar) argument."""
    up = list(args)
    dn = list(args)
    up[i] = args[i] + h
    dn[i] = args[i] - h
    return (f(*up) - f(*dn)) / (2 * h)


def fd_grad_vec(f, v, h=1e-6):
    """Central finite-difference gradient of the scalar f(v) for a 1-D array v."""
    v = np.asarray(v, dtype=float)
    g = np.zeros_like(v)
    for k in range(v.size):
        e = np.zeros_like(v)
        e[k] = h
        g[k] = (f(v + e) - f(v - e)) / (2 * h)
    return g


def is_zero(expr) -> bool:
    """Whether a symgrad expression is identically zero (checked with sympy)."""
    return sp.simplify(sp.expand(sg.to_sympy(expr))) == 0


# ---------------------------------------------------------------------------------
# N1: z = x + y, w = 2*z at x=2, y=3: z = 5, w = 10, dw/dx = dw/dy = 2
# ---------------------------------------------------------------------------------


class TestN1:
    def test_expressions(self):
        x, y = sg.symbols("x y")
        z = x + y
        w = 2 * z
        assert sg.diff(w, x) == 2
        assert sg.diff(w, y) == 2
        assert list(sg.gradient(w, [x, y])) == [2, 2]
        z_fn = sg.compile(z, [x, y])
        w_fn = sg.compile(w, [x, y])
        assert z_fn(2.0, 3.0) == 5.0
        assert w_fn(2.0, 3.0) == 10.0

    def test_functions(self):
        def w(x, y):
            z = x + y
            return 2 * z

        assert sg.compile(w)(2.0, 3.0) == 10.0
        dx, dy = sg.grad(w, argnums=(0, 1))(2.0, 3.0)
        assert (dx, dy) == (2.0, 2.0)
        value, (gx, gy) = sg.value_and_grad(w, argnums=(0, 1))(2.0, 3.0)
        assert value == 10.0 and gx == 2.0 and gy == 2.0


# ---------------------------------------------------------------------------------
# N2: Q = 3*a**3 - b**2 with a = (2, 3), b = (6, 4):
#   Q = (3*8 - 36, 3*27 - 16) = (-12, 65); dQ/da = 9a^2 = (36, 81); dQ/db = -2b = (-12, -8)
# ---------------------------------------------------------------------------------

A_VAL = np.array([2.0, 3.0])
B_VAL = np.array([6.0, 4.0])
Q_VAL = np.array([-12.0, 65.0])
DQ_DA = np.array([36.0, 81.0])
DQ_DB = np.array([-12.0, -8.0])


def Q(a, b):
    return 3 * a**3 - b**2


class TestN2:
    def test_text_of_scalar_derivatives(self):
        a, b = sg.symbols("a b")
        assert str(sg.diff(3 * a**3 - b**2, a)) == "9*a**2"
        assert str(sg.diff(3 * a**3 - b**2, b)) == "-2*b"

    def test_array_symbols_jacobian(self):
        a = sg.symbols("a", shape=(2,))
        b = sg.symbols("b", shape=(2,))
        q = 3 * a**3 - b**2
        ja = sg.jacobian(q, a)
        jb = sg.jacobian(q, b)
        assert ja.shape == (2, 2) and jb.shape == (2, 2)
        # off-diagonal entries are exactly zero: Q_i depends on a_i, b_i only
        assert ja[0, 1] == 0 and ja[1, 0] == 0 and jb[0, 1] == 0 and jb[1, 0] == 0
        assert is_zero(ja[0, 0] - 9 * a[0] ** 2)
        assert is_zero(jb[1, 1] + 2 * b[1])
        fn = sg.compile((q, ja, jb), [a, b])
        qv, jav, jbv = fn(A_VAL, B_VAL)
        np.testing.assert_allclose(qv, Q_VAL)
        np.testing.assert_allclose(jav, np.diag(DQ_DA))
        np.testing.assert_allclose(jbv, np.diag(DQ_DB))

    def test_value(self):
        np.testing.assert_allclose(sg.compile(Q, shapes={"a": (2,), "b": (2,)})(A_VAL, B_VAL), Q_VAL)
        # undeclared arguments: a batch of scalars
        np.testing.assert_allclose(sg.compile(Q)(A_VAL, B_VAL), Q_VAL)

    def test_vjp_with_ones(self):
        """Q.backward(gradient=ones): the vector-Jacobian product with a cotangent of ones."""
        value, back = sg.vjp(Q, A_VAL, B_VAL, shapes={"a": (2,), "b": (2,)})
        np.testing.assert_allclose(value, Q_VAL)
        ga, gb = back(np.ones(2))
        np.testing.assert_allclose(ga, DQ_DA)
        np.testing.assert_allclose(gb, DQ_DB)

    def test_vjp_with_ones_undeclared(self):
        value, back = sg.vjp(Q, A_VAL, B_VAL)
        np.testing.assert_allclose(value, Q_VAL)
        ga, gb = back(np.ones(2))
        np.testing.assert_allclose(ga, DQ_DA)
        np.testing.assert_allclose(gb, DQ_DB)

    def test_grad_batch_of_scalars(self):
        ga, gb = sg.grad(Q, argnums=(0, 1))(A_VAL, B_VAL)
        assert ga.shape == (2,) and gb.shape == (2,)
        np.testing.assert_allclose(ga, DQ_DA)
        np.testing.assert_allclose(gb, DQ_DB)

    def test_grad_of_vector_output_raises(self):
        with pytest.raises(sg.DiffError) as info:
            sg.grad(Q, shapes={"a": (2,), "b": (2,)})
        msg = str(info.value).lower()
        assert "jacobian" in msg or "vjp" in msg

    def test_jacobian_diagonal(self):
        ja, jb = sg.jacobian(Q, argnums=(0, 1), shapes={"a": (2,), "b": (2,)})(A_VAL, B_VAL)
        assert ja.shape == (2, 2) and jb.shape == (2, 2)
        np.testing.assert_allclose(ja, np.diag(DQ_DA))
        np.testing.assert_allclose(jb, np.diag(DQ_DB))

    def test_against_finite_differences(self):
        ja, jb = sg.jacobian(Q, argnums=(0, 1), shapes={"a": (2,), "b": (2,)})(A_VAL, B_VAL)
        for i in range(2):
            np.testing.assert_allclose(ja[i], fd_grad_vec(lambda a, i=i: Q(a, B_VAL)[i], A_VAL), rtol=1e-6)
            np.testing.assert_allclose(jb[i], fd_grad_vec(lambda b, i=i: Q(A_VAL, b)[i], B_VAL), rtol=1e-6)


# ---------------------------------------------------------------------------------
# N2': the slip Q = 3*a**3 * b**2 (a product): dQ/da = 9 a^2 b^2, dQ/db = 6 a^3 b
#   at a = (2, 3), b = (6, 4): dQ/da = (9*4*36, 9*9*16) = (1296, 1296),
#                              dQ/db = (6*8*6, 6*27*4) = (288, 648)
# ---------------------------------------------------------------------------------


class TestN2Slip:
    RIGHT_DA = np.array([1296.0, 1296.0])
    RIGHT_DB = np.array([288.0, 648.0])

    @staticmethod
    def P(a, b):
        return 3 * a**3 * b**2

    def test_expressions(self):
        a, b = sg.symbols("a b")
        e = 3 * a**3 * b**2
        da, db = sg.diff(e, a), sg.diff(e, b)
        assert is_zero(da - 9 * a**2 * b**2)
        assert is_zero(db - 6 * a**3 * b)
        assert not is_zero(da - 9 * a**2)  # the notes' claim
        assert not is_zero(db + 2 * b)

    def test_functions(self):
        ga, gb = sg.grad(self.P, argnums=(0, 1))(A_VAL, B_VAL)
        np.testing.assert_allclose(ga, self.RIGHT_DA)
        np.testing.assert_allclose(gb, self.RIGHT_DB)
        assert not np.allclose(ga, DQ_DA)  # the claimed 9a^2
        assert not np.allclose(gb, DQ_DB)  # the claimed -2b
        _, back = sg.vjp(self.P, A_VAL, B_VAL, shapes={"a": (2,), "b": (2,)})
        va, vb = back(np.ones(2))
        np.testing.assert_allclose(va, self.RIGHT_DA)
        np.testing.assert_allclose(vb, self.RIGHT_DB)


# ---------------------------------------------------------------------------------
# N3: y = (x-3)(x-6)(x-4) = x^3 - 13x^2 + 54x - 72; at x = 1: y = (-2)(-5)(-3) = -30,
#     dy/dx = 3x^2 - 26x + 54 = 31
# ---------------------------------------------------------------------------------


def n3(x):
    return (x - 3) * (x - 6) * (x - 4)


class TestN3:
    def test_expressions(self):
        x = sg.symbols("x")
        y = n3(x)
        d = sg.diff(y, x)
        assert sg.compile(y, [x])(1.0) == -30.0
        assert sg.compile(d, [x])(1.0) == 31.0
        sx = sp.Symbol("x", real=True)
        assert sp.expand(sg.to_sympy(d) - (3 * sx**2 - 26 * sx + 54)) == 0

    def test_functions(self):
        assert sg.compile(n3)(1.0) == -30.0
        assert sg.grad(n3)(1.0) == 31.0
        xs = np.array([1.0, 2.0, 5.0])
        np.testing.assert_allclose(sg.grad(n3)(xs), 3 * xs**2 - 26 * xs + 54)


# ---------------------------------------------------------------------------------
# N4: y = x^3, z = 5y; dz/dx = 15 x^2 = 60 at x = 2
# ---------------------------------------------------------------------------------


class TestN4:
    def test_expressions(self):
        x = sg.symbols("x")
        y = x**3
        z = 5 * y
        assert str(sg.diff(z, x)) == "15*x**2"
        assert sg.compile(sg.diff(z, x), [x])(2.0) == 60.0

    def test_functions(self):
        def z(x):
            y = x**3
            return 5 * y

        assert sg.grad(z)(2.0) == 60.0
        assert sg.compile(z)(2.0) == 40.0


# ---------------------------------------------------------------------------------
# N5: y = 3x^2 + 15; dy/dx = 6x = 18 at x = 3
# ---------------------------------------------------------------------------------


class TestN5:
    def test_expressions(self):
        x = sg.symbols("x")
        d = sg.diff(3 * x**2 + 15, x)
        assert str(d) == "6*x"
        assert sg.compile(d, [x])(3.0) == 18.0

    def test_functions(self):
        assert sg.grad(lambda x: 3 * x**2 + 15)(3.0) == 18.0
        assert sg.compile(lambda x: 3 * x**2 + 15)(3.0) == 42.0


# ---------------------------------------------------------------------------------
# N6: y = x1^3 + x2^2 + 4 x1 x2 + 5 at (3, 4):
#   dy/dx1 = 3 x1^2 + 4 x2 = 27 + 16 = 43, dy/dx2 = 2 x2 + 4 x1 = 8 + 12 = 20,
#   Hessian [[6 x1, 4], [4, 2]] = [[18, 4], [4, 2]]
# ---------------------------------------------------------------------------------


def n6(x1, x2):
    return x1**3 + x2**2 + 4 * x1 * x2 + 5


class TestN6:
    def test_expressions(self):
        x1, x2 = sg.symbols("x1 x2")
        y = n6(x1, x2)
        g = sg.gradient(y, [x1, x2])
        assert g.shape == (2,)
        assert is_zero(g[0] - (3 * x1**2 + 4 * x2))
        assert is_zero(g[1] - (2 * x2 + 4 * x1))
        h = sg.hessian(y, [x1, x2])
        assert h.shape == (2, 2)
        assert str(h[0, 0]) == "6*x1"
        assert h[0, 1] == 4 and h[1, 0] == 4 and h[1, 1] == 2
        gv, hv = sg.compile((g, h), [x1, x2])(3.0, 4.0)
        np.testing.assert_allclose(gv, [43.0, 20.0])
        np.testing.assert_allclose(hv, [[18.0, 4.0], [4.0, 2.0]])

    def test_functions(self):
        assert sg.grad(n6, argnums=0)(3.0, 4.0) == 43.0
        assert sg.grad(n6, argnums=1)(3.0, 4.0) == 20.0
        h = sg.hessian(n6, argnums=(0, 1))(3.0, 4.0)
        np.testing.assert_allclose(np.array(h, dtype=float), [[18.0, 4.0], [4.0, 2.0]])

    def test_functions_vector_argument(self):
        def y(v):
            return n6(v[0], v[1])

        v = np.array([3.0, 4.0])
        np.testing.assert_allclose(sg.grad(y, shapes={"v": (2,)})(v), [43.0, 20.0])
        np.testing.assert_allclose(sg.hessian(y, shapes={"v": (2,)})(v), [[18.0, 4.0], [4.0, 2.0]])


# ---------------------------------------------------------------------------------
# N7: z = 3x^5 + 2u^2 k x + l x + l at x=2, u=4, k=3, l=1:
#   dz/dx = 15x^4 + 2u^2 k + l = 240 + 96 + 1 = 337; dz/du = 4ukx = 96;
#   dz/dk = 2u^2 x = 64; dz/dl = x + 1 = 3
# ---------------------------------------------------------------------------------


def n7(x, u, k, l):
    return 3 * x**5 + 2 * u**2 * k * x + l * x + l


class TestN7:
    def test_expressions(self):
        x, u, k, l = sg.symbols("x u k l")
        z = n7(x, u, k, l)
        g = sg.gradient(z, [x, u, k, l])
        np.testing.assert_allclose(sg.compile(g, [x, u, k, l])(2.0, 4.0, 3.0, 1.0), [337.0, 96.0, 64.0, 3.0])
        assert str(sg.diff(z, l)) == "x + 1"

    def test_functions(self):
        grads = sg.grad(n7, argnums=(0, 1, 2, 3))(2.0, 4.0, 3.0, 1.0)
        assert grads == (337.0, 96.0, 64.0, 3.0)
        assert all(type(g) is float for g in grads)


# ---------------------------------------------------------------------------------
# N8: y = x + 2, z = 2y^2, L = mean(z) with x = (1, 2): y = (3, 4);
#   dL/dz = (1/2, 1/2); dL/dx = dL/dz * 4y = 2y = (6, 8)
# N8' (slip): L = (z1 + z2)/3 with dL/dz = (1/3, 1/3) gives dL/dx = 4y/3 = (4, 16/3), not (6, 8)
# ---------------------------------------------------------------------------------

X8 = np.array([1.0, 2.0])


def n8(x):
    y = x + 2
    z = 2 * y**2
    return sg.mean(z)


def n8_slip(x):
    y = x + 2
    z = 2 * y**2
    return (z[0] + z[1]) / 3


class TestN8:
    def test_intermediates(self):
        np.testing.assert_allclose(sg.compile(lambda x: x + 2, shapes={"x": (2,)})(X8), [3.0, 4.0])
        # dL/dz for L = mean(z) over z of length 2
        np.testing.assert_allclose(sg.grad(sg.mean, shapes={"x": (2,)})(np.array([18.0, 32.0])), [0.5, 0.5])
        assert sg.compile(n8, shapes={"x": (2,)})(X8) == pytest.approx((18.0 + 32.0) / 2)

    def test_grad(self):
        np.testing.assert_allclose(sg.grad(n8, shapes={"x": (2,)})(X8), [6.0, 8.0])

    def test_expressions(self):
        x = sg.symbols("x", shape=(2,))
        g = sg.gradient(n8(x), x)
        assert g.shape == (2,)
        assert is_zero(g[0] - 2 * (x[0] + 2))
        np.testing.assert_allclose(sg.compile(g, [x])(X8), [6.0, 8.0])

    def test_slip(self):
        g = sg.grad(n8_slip, shapes={"x": (2,)})(X8)
        np.testing.assert_allclose(g, [4.0, 16.0 / 3.0])
        assert not np.allclose(g, [6.0, 8.0])
        # dL/dz with the /3 is (1/3, 1/3)
        np.testing.assert_allclose(
            sg.grad(lambda z: (z[0] + z[1]) / 3, shapes={"z": (2,)})(np.array([18.0, 32.0])), [1 / 3, 1 / 3]
        )
        # and (6, 8) needs the mean
        np.testing.assert_allclose(sg.grad(n8, shapes={"x": (2,)})(X8), [6.0, 8.0])


# ---------------------------------------------------------------------------------
# N9: y_hat = w x, s = y_hat - y, loss = s^2 at x=1, y=2, w=1:
#   y_hat = 1, s = -1, loss = 1, dloss/ds = 2s = -2, dloss/dw = 2 s x = -2;
#   one step with learning rate a: w <- w - a*(-2) = 1 + 2a
# ---------------------------------------------------------------------------------


def n9_loss(w, x, y):
    y_hat = w * x
    s = y_hat - y
    return s**2


class TestN9:
    def test_forward(self):
        assert sg.compile(lambda w, x: w * x)(1.0, 1.0) == 1.0
        assert sg.compile(lambda w, x, y: w * x - y)(1.0, 1.0, 2.0) == -1.0
        assert sg.compile(n9_loss)(1.0, 1.0, 2.0) == 1.0

    def test_backward(self):
        assert sg.grad(lambda s: s**2)(-1.0) == -2.0
        assert sg.grad(n9_loss)(1.0, 1.0, 2.0) == -2.0
        w, x, y = sg.symbols("w x y")
        assert is_zero(sg.diff(n9_loss(w, x, y), w) - 2 * (w * x - y) * x)

    @pytest.mark.parametrize("lr", [0.1, 0.5])
    def test_gradient_step(self, lr):
        g = sg.grad(n9_loss)
        w = 1.0
        w_new = w - lr * g(w, 1.0, 2.0)
        assert w_new == pytest.approx(1.0 + 2.0 * lr)
        # the step lowers the loss for a small enough rate (the loss is (w - 2)^2 here)
        assert sg.compile(n9_loss)(w_new, 1.0, 2.0) == pytest.approx((w_new - 2.0) ** 2)
        assert sg.compile(n9_loss)(w_new, 1.0, 2.0) < 1.0


# ---------------------------------------------------------------------------------
# N10 (slip): L = (y - (W x + b))^2; the notes write dL/dW = 2(y - (Wx + b)) * Wx.
#   Right: dL/dW = -2 (y - (Wx + b)) x, dL/db = -2 (y - (Wx + b)).
# ---------------------------------------------------------------------------------


class TestN10:
    def setup_method(self):
        self.W, self.x, self.b, self.y = sg.symbols("W x b y")
        W, x, b, y = self.W, self.x, self.b, self.y
        self.L = (y - (W * x + b)) ** 2
        self.right_W = -2 * (y - (W * x + b)) * x
        self.right_b = -2 * (y - (W * x + b))
        self.notes_W = 2 * (y - (W * x + b)) * W * x

    def test_symbolic_with_simplify(self):
        W, b = self.W, self.b
        assert sg.simplify(sg.diff(self.L, W) - self.right_W) == 0
        assert sg.simplify(sg.diff(self.L, b) - self.right_b) == 0

    def test_symbolic_with_sympy(self):
        SW, Sx, Sb, Sy = sp.symbols("W x b y", real=True)
        SL = (Sy - (SW * Sx + Sb)) ** 2
        assert sp.simplify(sg.to_sympy(sg.diff(self.L, self.W)) - sp.diff(SL, SW)) == 0
        assert sp.simplify(sg.to_sympy(sg.diff(self.L, self.b)) - sp.diff(SL, Sb)) == 0
        assert sp.simplify(sp.diff(SL, SW) - (-2 * (Sy - (SW * Sx + Sb)) * Sx)) == 0
        # the notes' formula is not the derivative
        assert sp.simplify(sg.to_sympy(self.notes_W) - sp.diff(SL, SW)) != 0

    def test_random_points(self):
        W, x, b, y = self.W, self.x, self.b, self.y
        fn = sg.compile((sg.diff(self.L, W), sg.diff(self.L, b), self.notes_W), [W, x, b, y])
        L_num = sg.compile(self.L, [W, x, b, y])
        for _ in range(5):
            pw, px, pb, py = (float(v) for v in RNG.uniform(-2, 2, size=4))
            dW, db, notes = fn(pw, px, pb, py)
            r = py - (pw * px + pb)
            assert dW == pytest.approx(-2 * r * px, rel=1e-12, abs=1e-12)
            assert db == pytest.approx(-2 * r, rel=1e-12, abs=1e-12)
            assert dW == pytest.approx(fd_grad(L_num, (pw, px, pb, py), 0), rel=1e-6, abs=1e-6)
            assert db == pytest.approx(fd_grad(L_num, (pw, px, pb, py), 2), rel=1e-6, abs=1e-6)
            assert notes != pytest.approx(dW, rel=1e-3)

    def test_function_layer(self):
        def L(W, b, x, y):
            return (y - (W * x + b)) ** 2

        pts = RNG.uniform(-2, 2, size=(4, 6))
        gW, gb = sg.grad(L, argnums=(0, 1))(*pts)
        r = pts[3] - (pts[0] * pts[2] + pts[1])
        np.testing.assert_allclose(gW, -2 * r * pts[2], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gb, -2 * r, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------
# N11: v . v with v = (1, 2, 3) = 1 + 4 + 9 = 14; its gradient is 2v
# N12: the outer product v v^T = [[1,2,3],[2,4,6],[3,6,9]]
# ---------------------------------------------------------------------------------

V = np.array([1.0, 2.0, 3.0])


class TestN11N12:
    def test_dot(self):
        assert sg.compile(lambda v: sg.dot(v, v), shapes={"v": (3,)})(V) == 14.0
        assert sg.compile(lambda v: v @ v, shapes={"v": (3,)})(V) == 14.0
        np.testing.assert_allclose(sg.grad(lambda v: sg.dot(v, v), shapes={"v": (3,)})(V), 2 * V)
        v = sg.symbols("v", shape=(3,))
        assert sg.compile(sg.dot(v, v), [v])(V) == 14.0

    def test_outer(self):
        expected = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [3.0, 6.0, 9.0]])
        out = sg.compile(lambda v: sg.matmul(v[:, None], v[None, :]), shapes={"v": (3,)})(V)
        assert out.shape == (3, 3)
        np.testing.assert_allclose(out, expected)
        v = sg.symbols("v", shape=(3,))
        np.testing.assert_allclose(sg.compile(np.outer(v, v), [v])(V), expected)
        np.testing.assert_allclose(sg.compile(v[:, None] @ v[None, :], [v])(V), expected)


# ---------------------------------------------------------------------------------
# N13: softmax(2.0, 1.0, 0.1) ~ (0.659, 0.242, 0.099)
# N14: cross-entropy -sum Y log Yhat, Y = (1, 0, 0): Yhat=(0.7,0.2,0.1) -> -log 0.7 ~ 0.357;
#      Yhat=(0.1,0.3,0.6) -> -log 0.1 ~ 2.303
# N15: d/dz of -sum(Y * log_softmax(z)) = softmax(z) - Y
# ---------------------------------------------------------------------------------


def np_softmax(z):
    e = np.exp(z - np.max(z))
    return e / e.sum()


class TestN13N14N15:
    def test_softmax(self):
        y = np.array([2.0, 1.0, 0.1])
        out = sg.compile(sg.softmax, shapes={"x": (3,)})(y)
        np.testing.assert_allclose(out, [0.659, 0.242, 0.099], atol=5e-4)
        np.testing.assert_allclose(out, np_softmax(y), rtol=1e-12)
        assert out.sum() == pytest.approx(1.0)
        s = sg.symbols("s", shape=(3,))
        np.testing.assert_allclose(sg.compile(sg.softmax(s), [s])(y), np_softmax(y), rtol=1e-12)

    @pytest.mark.parametrize("yhat, expected", [((0.7, 0.2, 0.1), 0.357), ((0.1, 0.3, 0.6), 2.303)])
    def test_cross_entropy(self, yhat, expected):
        def ce(Y, Yhat):
            return -sg.sum(Y * sg.log(Yhat))

        fn = sg.compile(ce, shapes={"Y": (3,), "Yhat": (3,)})
        out = fn(np.array([1.0, 0.0, 0.0]), np.array(yhat))
        assert out == pytest.approx(expected, abs=5e-4)
        assert out == pytest.approx(-math.log(yhat[0]), rel=1e-12)

    def test_cross_entropy_gradient_wrt_yhat(self):
        # d/dYhat of -sum Y log Yhat = -Y / Yhat
        Y = np.array([1.0, 0.0, 0.0])
        yhat = np.array([0.7, 0.2, 0.1])
        g = sg.grad(lambda Y, Yh: -sg.sum(Y * sg.log(Yh)), argnums=1, shapes={"Y": (3,), "Yh": (3,)})(Y, yhat)
        np.testing.assert_allclose(g, -Y / yhat)

    @pytest.mark.parametrize("k", [0, 2, 4])
    def test_softmax_cross_entropy_gradient(self, k):
        Y = np.zeros(5)
        Y[k] = 1.0

        def loss(z, Y):
            return -sg.sum(Y * sg.log_softmax(z))

        g = sg.grad(loss, shapes={"z": (5,), "Y": (5,)})
        for _ in range(3):
            z = RNG.normal(scale=3.0, size=5)
            np.testing.assert_allclose(g(z, Y), np_softmax(z) - Y, rtol=1e-10, atol=1e-12)
        # a batch of z at once
        zs = RNG.normal(size=(4, 5))
        expected = np.array([np_softmax(z) for z in zs]) - Y
        np.testing.assert_allclose(g(zs, Y), expected, rtol=1e-10, atol=1e-12)

    def test_softmax_cross_entropy_gradient_symbolic_form(self):
        # -sum Y log softmax(z) written with log(softmax) directly, against finite differences
        Y = np.array([0.0, 1.0, 0.0])
        z0 = RNG.normal(size=3)

        def loss(z):
            return -sg.sum(Y * sg.log(sg.softmax(z)))

        g = sg.grad(loss, shapes={"z": (3,)})(z0)
        np.testing.assert_allclose(g, np_softmax(z0) - Y, rtol=1e-9, atol=1e-12)
        f = sg.compile(loss, shapes={"z": (3,)})
        np.testing.assert_allclose(g, fd_grad_vec(f, z0), rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------------
# N16: the Jacobian of y in R^m w.r.t. x in R^n is m x n; for an elementwise map it is diagonal
# ---------------------------------------------------------------------------------


class TestN16:
    def test_shape_m_by_n(self):
        A = RNG.normal(size=(3, 2))
        x0 = RNG.normal(size=2)
        jac = sg.jacobian(lambda x: sg.matmul(A, x), shapes={"x": (2,)})(x0)
        assert jac.shape == (3, 2)
        np.testing.assert_allclose(jac, A, rtol=1e-12)

    def test_nonlinear_m_by_n(self):
        # y = (x0*x1, sin(x0), x1**2, exp(x0 + x1)) : R^2 -> R^4
        def f(x):
            return np.array([x[0] * x[1], sg.sin(x[0]), x[1] ** 2, sg.exp(x[0] + x[1])])

        x0 = np.array([0.3, -1.2])
        jac = sg.jacobian(f, shapes={"x": (2,)})(x0)
        assert jac.shape == (4, 2)
        a, b = x0
        expected = np.array([[b, a], [math.cos(a), 0.0], [0.0, 2 * b], [math.exp(a + b), math.exp(a + b)]])
        np.testing.assert_allclose(jac, expected, rtol=1e-12)
        x = sg.symbols("x", shape=(2,))
        sym = sg.jacobian(f(x), x)
        assert sym.shape == (4, 2)

    def test_elementwise_diagonal(self):
        x0 = RNG.normal(size=4)
        jac = sg.jacobian(lambda x: sg.sin(x) * 2.0, shapes={"x": (4,)})(x0)
        assert jac.shape == (4, 4)
        np.testing.assert_allclose(jac, np.diag(2.0 * np.cos(x0)), rtol=1e-12)
        x = sg.symbols("x", shape=(4,))
        sym = sg.jacobian(sg.sin(x) * 2.0, x)
        for i in range(4):
            for j in range(4):
                if i != j:
                    assert sym[i, j] == 0


# ---------------------------------------------------------------------------------
# N17: strides: non-contiguous views give the same results as contiguous copies
# ---------------------------------------------------------------------------------

M = np.array([[1.0, 2.0], [3.0, 4.0]])


class TestN17:
    @pytest.mark.parametrize("view", ["row1", "col1", "T", "neg"])
    def test_scalar_args_batch_views(self, view):
        arr = {"row1": M[1, :], "col1": M[:, 1], "T": M.T, "neg": M[::-1, ::-1]}[view]
        f = sg.compile(lambda x, y: x**2 * y + sg.sin(x))
        g = sg.grad(lambda x, y: x**2 * y + sg.sin(x), argnums=(0, 1))
        copy = np.ascontiguousarray(arr)
        np.testing.assert_array_equal(f(arr, copy), f(copy, copy))
        np.testing.assert_allclose(f(arr, arr), copy**3 + np.sin(copy))
        for got, want in zip(g(arr, 2.0), g(copy, 2.0)):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_allclose(g(arr, 2.0)[0], 2 * copy * 2.0 + np.cos(copy))

    @pytest.mark.parametrize("view", ["row1", "col1", "T", "rows_reversed"])
    def test_declared_shape_views(self, view):
        arr = {"row1": M[1, :], "col1": M[:, 1], "T": M.T, "rows_reversed": M[::-1]}[view]
        copy = np.ascontiguousarray(arr)

        def f(v):
            return v[0] * 10.0 + v[1]  # order-sensitive

        fn = sg.compile(f, shapes={"v": (2,)})
        gn = sg.grad(lambda v: v[0] ** 2 * v[1], shapes={"v": (2,)})
        np.testing.assert_array_equal(fn(arr), fn(copy))
        np.testing.assert_allclose(fn(arr), copy[..., 0] * 10.0 + copy[..., 1])
        np.testing.assert_array_equal(gn(arr), gn(copy))
        expected = np.stack([2 * copy[..., 0] * copy[..., 1], copy[..., 0] ** 2], axis=-1)
        np.testing.assert_allclose(gn(arr), expected)

    def test_matrix_transpose_declared(self):
        fn = sg.compile(lambda m: sg.matmul(m, np.array([1.0, 10.0])), shapes={"m": (2, 2)})
        np.testing.assert_allclose(fn(M.T), M.T @ np.array([1.0, 10.0]))
        np.testing.assert_allclose(fn(M.T), fn(np.ascontiguousarray(M.T)))


# ---------------------------------------------------------------------------------
# N18: freezing: argnums picks the arguments to differentiate; the others are constants.
#   f(w, b, x) = (w x + b)^2: df/dw = 2(wx + b) x, df/db = 2(wx + b).
#   At w = 2, b = 1, x = 3: wx + b = 7, df/dw = 42, df/db = 14.
# ---------------------------------------------------------------------------------


def n18(w, b, x):
    return (w * x + b) ** 2


class TestN18:
    def test_functions(self):
        out = sg.grad(n18, argnums=(0, 1))(2.0, 1.0, 3.0)
        assert isinstance(out, tuple) and len(out) == 2  # x gets no gradient
        assert out == (42.0, 14.0)
        assert sg.grad(n18, argnums=1)(2.0, 1.0, 3.0) == 14.0
        value, grads = sg.value_and_grad(n18, argnums=(0, 1))(2.0, 1.0, 3.0)
        assert value == 49.0 and grads == (42.0, 14.0)

    def test_batch(self):
        w, b, x = RNG.normal(size=(3, 7))
        gw, gb = sg.grad(n18, argnums=(0, 1))(w, b, x)
        np.testing.assert_allclose(gw, 2 * (w * x + b) * x, rtol=1e-12)
        np.testing.assert_allclose(gb, 2 * (w * x + b), rtol=1e-12)

    def test_expressions(self):
        w, b, x = sg.symbols("w b x")
        e = n18(w, b, x)
        g = sg.gradient(e, [w, b])
        assert g.shape == (2,)
        assert is_zero(g[0] - 2 * (w * x + b) * x)
        assert is_zero(g[1] - 2 * (w * x + b))
        np.testing.assert_allclose(sg.compile(g, [w, b, x])(2.0, 1.0, 3.0), [42.0, 14.0])

    def test_stop_gradient_freezes(self):
        # the same freezing done inside the function
        f = sg.grad(lambda w, b: (w * sg.stop_gradient(w) + b) ** 2)
        # d/dw (w*c + b)^2 with c = w held constant: 2(w*w + b)*w
        assert f(2.0, 1.0) == pytest.approx(2 * (4.0 + 1.0) * 2.0)


# ---------------------------------------------------------------------------------
# N19: higher order: d^2/dx^2 (3x^2 + 15) = 6; d^3/dx^3 (x-3)(x-6)(x-4) = 6 (x^3 coefficient 1 * 3!)
# ---------------------------------------------------------------------------------


class TestN19:
    def test_expressions(self):
        x = sg.symbols("x")
        assert sg.diff(3 * x**2 + 15, x, 2) == 6
        assert sg.diff(3 * x**2 + 15, x, x) == 6
        assert sg.diff(n3(x), x, 3) == 6
        assert sg.diff(n3(x), x, x, x) == 6
        assert sg.diff(n3(x), x, 4) == 0
        d2 = sg.diff(n3(x), x, 2)  # 6x - 26
        assert is_zero(d2 - (6 * x - 26))

    def test_functions(self):
        assert sg.derivative(lambda x: 3 * x**2 + 15, 2)(3.0) == 6.0
        assert sg.derivative(n3, 3)(1.0) == 6.0
        assert sg.derivative(n3, 2)(1.0) == -20.0  # 6x - 26 at 1
        assert sg.derivative(n3, 1)(1.0) == 31.0
        assert sg.hessian(lambda x: 3 * x**2 + 15)(3.0) == 6.0
        assert sg.grad(sg.grad(lambda x: 3 * x**2 + 15))(3.0) == 6.0
        assert sg.grad(sg.grad(sg.grad(n3)))(1.0) == 6.0
        xs = np.array([-1.0, 0.5, 7.0])
        np.testing.assert_allclose(sg.derivative(n3, 3)(xs), [6.0, 6.0, 6.0])
        np.testing.assert_allclose(sg.derivative(n3, 2)(xs), 6 * xs - 26)

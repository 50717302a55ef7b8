"""Linear algebra and array manipulation on declared matrices, as numpy spells them, with exact derivatives.

det, inv and solve are checked against sympy's Matrix (symbolically for small n) and
numpy's LAPACK (numerically up to the size limit, n = 8), their derivatives against
Jacobi's formula and central differences on the numpy and C backends; trace, norm,
outer, tensordot and einsum against numpy on numbers; the joining and reshaping
functions for their results (SymbolicArrays, so comparisons work) and their errors.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import sympy as sp
from oracle import central_jacobian

import symgrad as sg
from symgrad.ir.array import SymbolicArray
from symgrad.tracing.linalg import MAX_MATRIX

HAS_CC = shutil.which("cc") is not None or shutil.which("gcc") is not None
BACKENDS = ["numpy", pytest.param("c", marks=pytest.mark.skipif(not HAS_CC, reason="no C compiler"))]
RNG = np.random.default_rng(7)


def _sympy_matrix(n: int) -> sp.Matrix:
    return sp.Matrix(n, n, lambda i, j: sp.Symbol(f"A[{i}, {j}]", real=True))


# -- det, inv, solve ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_det_and_inv_equal_sympys_exactly(n):
    A = sg.symbols("A", shape=(n, n))
    S = _sympy_matrix(n)
    assert sp.expand(sg.to_sympy(sg.det(A)) - S.det(method="berkowitz")) == 0
    adjugate = S.adjugate()
    ours = sg.to_sympy(sg.inv(A) * sg.det(A))  # the adjugate, once the 1/det cancels
    assert all(sp.expand(sp.cancel(ours[i, j] - adjugate[i, j])) == 0 for i in range(n) for j in range(n))
    assert np.linalg.det(A) is sg.det(A)


def test_det_of_three_by_three_prints_as_the_cofactor_expansion():
    A = sg.symbols("A", shape=(3, 3))
    text = str(sg.det(A))
    assert text.count("*") < 20 and "A[0, 0]*(" in text  # minors shared and factored, not 6 expanded triples


@pytest.mark.parametrize("backend", BACKENDS)
def test_det_inv_solve_match_lapack_up_to_the_size_limit(backend):
    for n in (2, 5, MAX_MATRIX):
        a = RNG.normal(size=(n, n)) + n * np.eye(n)
        b = RNG.normal(size=n)
        bm = RNG.normal(size=(n, 2))
        fn = sg.compile(
            lambda A, b, B: [sg.det(A), np.linalg.inv(A), sg.solve(A, b), np.linalg.solve(A, B)],
            shapes=[(n, n), (n,), (n, 2)],
            backend=backend,
        )
        d, inv, x, X = fn(a, b, bm)
        assert d == pytest.approx(np.linalg.det(a), rel=1e-11)
        np.testing.assert_allclose(inv, np.linalg.inv(a), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(X, np.linalg.solve(a, bm), rtol=1e-10, atol=1e-13)


def test_stacks_of_matrices_and_broadcast_right_hand_sides_follow_numpy():
    a = RNG.normal(size=(4, 3, 3)) + 3 * np.eye(3)
    b, bm = RNG.normal(size=3), RNG.normal(size=(2, 1, 3, 2))
    fn = sg.compile(lambda A, b, B: [np.linalg.det(A), sg.inv(A), sg.solve(A, b), sg.solve(A, B)],
                    shapes=[(4, 3, 3), (3,), (2, 1, 3, 2)])  # fmt: skip
    d, inv, x, X = fn(a, b, bm)
    np.testing.assert_allclose(d, np.linalg.det(a), rtol=1e-12)
    np.testing.assert_allclose(inv, np.linalg.inv(a), rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(X, np.linalg.solve(a, bm), rtol=1e-11, atol=1e-13)
    assert np.shape(X) == (2, 4, 3, 2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_derivatives_of_det_inv_and_solve_are_exact(backend):
    a = RNG.normal(size=(3, 3)) + 2 * np.eye(3)
    b = RNG.normal(size=3)
    grad = sg.grad(sg.det, shapes=[(3, 3)], backend=backend)(a)
    np.testing.assert_allclose(grad, np.linalg.det(a) * np.linalg.inv(a).T, rtol=1e-12)  # Jacobi's formula
    hess = sg.hessian(sg.det, shapes=[(3, 3)], backend=backend)(a)
    np.testing.assert_allclose(
        hess, central_jacobian(lambda m: np.linalg.det(m) * np.linalg.inv(m).T, a), rtol=1e-6, atol=1e-7
    )
    jac = sg.jacobian(sg.inv, shapes=[(3, 3)], backend=backend)(a)
    inv = np.linalg.inv(a)
    np.testing.assert_allclose(jac, -np.einsum("ik,lj->ijkl", inv, inv), rtol=1e-10, atol=1e-12)  # -A^-1 dA A^-1
    jac_a, jac_b = sg.jacobian(sg.solve, argnums=(0, 1), shapes=[(3, 3), (3,)], backend=backend)(a, b)
    np.testing.assert_allclose(jac_a, central_jacobian(lambda m: np.linalg.solve(m, b), a), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(jac_b, inv, rtol=1e-11, atol=1e-13)


def test_singular_matrices_give_inf_or_nan_where_numpy_raises():
    with np.errstate(all="ignore"):
        inv = sg.compile(sg.inv, shapes=[(2, 2)])(np.array([[1.0, 2.0], [2.0, 4.0]]))
    assert not np.any(np.isfinite(inv))
    assert sg.compile(sg.det, shapes=[(2, 2)])(np.array([[1.0, 2.0], [2.0, 4.0]])) == 0.0


def test_det_inv_solve_refuse_shapes_they_cannot_take():
    with pytest.raises(sg.ShapeError, match="square"):
        sg.det(sg.symbols("A", shape=(2, 3)))
    with pytest.raises(sg.ShapeError, match="square"):
        np.linalg.inv(sg.symbols("v", shape=(3,)))
    with pytest.raises(sg.ShapeError, match=f"n <= {MAX_MATRIX}"):
        sg.det(sg.symbols("B", shape=(MAX_MATRIX + 1,) * 2))
    with pytest.raises(sg.ShapeError, match="does not fit"):
        sg.solve(sg.symbols("A", shape=(3, 3)), sg.symbols("b", shape=(2,)))
    with pytest.raises(sg.ShapeError, match="do not broadcast"):
        sg.solve(sg.symbols("S", shape=(2, 3, 3)), sg.symbols("R", shape=(4, 3, 1)))
    assert float(sg.det(np.empty((0, 0), dtype=object))) == 1.0  # numpy's det of no rows
    assert sg.inv(sg.symbols("A", shape=(1, 1)))[0, 0] is 1 / sg.symbols("A", shape=(1, 1))[0, 0]


# -- trace, norm, outer, tensordot, einsum ----------------------------------------------------


X = RNG.normal(size=(3, 4))
T = RNG.normal(size=(2, 3, 4))


NUMERIC = {
    "trace": (lambda x, t: sg.trace(x), lambda x, t: np.trace(x)),
    "np.trace offset": (lambda x, t: np.trace(x, offset=1), lambda x, t: np.trace(x, offset=1)),
    "trace axes": (lambda x, t: np.trace(t, 0, 1, 2), lambda x, t: np.trace(t, 0, 1, 2)),
    "method trace": (lambda x, t: x.trace(-1), lambda x, t: x.trace(-1)),
    "norm": (lambda x, t: np.linalg.norm(x), lambda x, t: np.linalg.norm(x)),
    "norm 3-d": (lambda x, t: np.linalg.norm(t), lambda x, t: np.linalg.norm(t)),
    "norm 1 vec": (lambda x, t: np.linalg.norm(x[0], 1), lambda x, t: np.linalg.norm(x[0], 1)),
    "norm inf vec": (lambda x, t: np.linalg.norm(x[0], np.inf), lambda x, t: np.linalg.norm(x[0], np.inf)),
    "norm -inf vec": (lambda x, t: np.linalg.norm(x[0], -np.inf), lambda x, t: np.linalg.norm(x[0], -np.inf)),
    "norm 0 vec": (lambda x, t: np.linalg.norm(x[0], 0), lambda x, t: np.linalg.norm(x[0], 0)),
    "norm 3 vec": (lambda x, t: sg.norm(x[0], 3), lambda x, t: np.linalg.norm(x[0], 3)),
    "norm -1 vec": (lambda x, t: sg.norm(x[0], -1), lambda x, t: np.linalg.norm(x[0], -1)),
    "norm axis": (lambda x, t: np.linalg.norm(t, axis=1), lambda x, t: np.linalg.norm(t, axis=1)),
    "norm fro": (lambda x, t: np.linalg.norm(x, "fro"), lambda x, t: np.linalg.norm(x, "fro")),
    "norm 1 mat": (lambda x, t: np.linalg.norm(x, 1), lambda x, t: np.linalg.norm(x, 1)),
    "norm -1 mat": (lambda x, t: np.linalg.norm(x, -1), lambda x, t: np.linalg.norm(x, -1)),
    "norm inf mat": (lambda x, t: np.linalg.norm(x, np.inf), lambda x, t: np.linalg.norm(x, np.inf)),
    "norm -inf stack": (
        lambda x, t: np.linalg.norm(t, -np.inf, axis=(2, 1)),
        lambda x, t: np.linalg.norm(t, -np.inf, axis=(2, 1)),
    ),
    "norm keepdims": (
        lambda x, t: np.linalg.norm(t, 1, axis=(0, 2), keepdims=True),
        lambda x, t: np.linalg.norm(t, 1, axis=(0, 2), keepdims=True),
    ),
    "norm 2 keepdims": (lambda x, t: sg.norm(x, keepdims=True), lambda x, t: np.linalg.norm(x, keepdims=True)),
    "outer": (lambda x, t: np.outer(x[0], x[:, 1]), lambda x, t: np.outer(x[0], x[:, 1])),
    "sg.outer": (lambda x, t: sg.outer(x, x[0]), lambda x, t: np.outer(x, x[0])),
    "tensordot 1": (lambda x, t: np.tensordot(t, x.T, 1), lambda x, t: np.tensordot(t, x.T, 1)),
    "tensordot 2": (lambda x, t: sg.tensordot(t, x), lambda x, t: np.tensordot(t, x)),
    "tensordot 0": (lambda x, t: np.tensordot(x[0], x[1], 0), lambda x, t: np.tensordot(x[0], x[1], 0)),
    "tensordot pairs": (
        lambda x, t: np.tensordot(t, x, axes=([2, 1], [1, 0])),
        lambda x, t: np.tensordot(t, x, axes=([2, 1], [1, 0])),
    ),
    "tensordot ints": (lambda x, t: np.tensordot(t, x, axes=(1, 0)), lambda x, t: np.tensordot(t, x, axes=(1, 0))),
    "einsum matmul": (lambda x, t: np.einsum("ij,kj->ik", x, x), lambda x, t: np.einsum("ij,kj->ik", x, x)),
    "einsum implicit": (lambda x, t: np.einsum("ba,cb", x.T, x), lambda x, t: np.einsum("ba,cb", x.T, x)),
    "einsum case": (lambda x, t: np.einsum("Ab,ba", x[:, :3], x[:3]), lambda x, t: np.einsum("Ab,ba", x[:, :3], x[:3])),
    "einsum sum": (lambda x, t: np.einsum("ijk->", t), lambda x, t: np.einsum("ijk->", t)),
    "einsum trace": (lambda x, t: np.einsum("ii", x[:, :3]), lambda x, t: np.einsum("ii", x[:, :3])),
    "einsum diag": (lambda x, t: np.einsum("ii->i", x[:, :3]), lambda x, t: np.einsum("ii->i", x[:, :3])),
    "einsum ellipsis": (lambda x, t: np.einsum("...j,j", t, x[0]), lambda x, t: np.einsum("...j,j", t, x[0])),
    "einsum ellipsis out": (
        lambda x, t: np.einsum("i...,i...->...", x, x),
        lambda x, t: np.einsum("i...,i...->...", x, x),
    ),
    "einsum broadcast 1": (
        lambda x, t: sg.einsum("ij,j", x, x[:1, 0]),
        lambda x, t: np.einsum("ij,j", x, x[:1, 0]),
    ),
    "einsum three": (lambda x, t: np.einsum("i,ij,j->", x[:, 0], x, x[0]), lambda x, t: x[:, 0] @ x @ x[0]),
    "einsum elementwise": (lambda x, t: np.einsum("ij,ij->ij", x, x), lambda x, t: x * x),
    "dot 3-d": (lambda x, t: np.dot(t, x.T), lambda x, t: np.dot(t, x.T)),
    "method dot": (lambda x, t: t.dot(x[0]), lambda x, t: t.dot(x[0])),
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_trace_norm_outer_tensordot_einsum_follow_numpy(backend):
    x, t = sg.symbols("x", shape=(3, 4)), sg.symbols("t", shape=(2, 3, 4))
    fn = sg.compile([ours(x, t) for ours, _ in NUMERIC.values()], inputs=[x, t], backend=backend)
    for (name, (_, theirs)), got in zip(NUMERIC.items(), fn(X, T)):
        want = theirs(X, T)
        assert np.shape(got) == np.shape(want), name
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_norm_and_einsum_derivatives_and_kinks(backend):
    v = np.array([0.5, -2.0, 1.5])
    g2 = sg.grad(np.linalg.norm, shapes=[(3,)], backend=backend)
    np.testing.assert_allclose(g2(v), v / np.linalg.norm(v), rtol=1e-14)
    with np.errstate(all="ignore"):
        assert np.all(np.isnan(g2(np.zeros(3))))  # 0 * (1/0): nan, as JAX's norm
    g1 = sg.grad(lambda a: sg.norm(a, 1), shapes=[(3,)], backend=backend)
    np.testing.assert_array_equal(g1(np.array([0.0, -2.0, 1.0])), [1.0, -1.0, 1.0])  # d|x|/dx = 1 at 0
    ginf = sg.grad(lambda a: sg.norm(a, np.inf), shapes=[(3,)], backend=backend)
    np.testing.assert_array_equal(ginf(np.array([1.0, -2.0, 2.0])), [0.0, -0.5, 0.5])  # a tie: halves
    jac = sg.jacobian(lambda m, w: np.einsum("ij,j->i", m, w), argnums=(0, 1), shapes=[(3, 4), (4,)], backend=backend)
    w = X[1]
    jm, jw = jac(X, w)
    np.testing.assert_allclose(jm, central_jacobian(lambda m: m @ w, X), atol=1e-8)
    np.testing.assert_allclose(jw, X, rtol=1e-15)


def test_norm_and_einsum_errors_name_the_argument():
    x, v = sg.symbols("x", shape=(3, 4)), sg.symbols("v", shape=(3,))
    with pytest.raises(sg.UnsupportedOpError, match=r"norm\(ord=2\) of a matrix"):
        np.linalg.norm(x, 2)
    with pytest.raises(sg.InputError, match="not a vector norm"):
        np.linalg.norm(v, "fro")
    with pytest.raises(sg.ShapeError, match="one axis or two"):
        np.linalg.norm(sg.symbols("t", shape=(2, 2, 2)), 1)
    with pytest.raises(sg.AxisError):
        np.linalg.norm(x, axis=(1, -1))
    with pytest.raises(sg.InputError, match="2 operands, 1 given"):
        np.einsum("ij,jk", x)
    with pytest.raises(sg.ShapeError, match="size"):
        np.einsum("ij,ij->i", x, x.T)
    with pytest.raises(sg.InputError, match="appears twice"):
        np.einsum("i,i->ii", v, v)
    with pytest.raises(sg.InputError, match="appears in no operand"):
        np.einsum("i->j", v)
    with pytest.raises(sg.ShapeError, match="'...'"):
        np.einsum("...i,...i->", x, v[:1])
    with pytest.raises(sg.ShapeError, match="shape-mismatch|differ"):
        np.tensordot(x, x, axes=([0], [1]))
    with pytest.raises(sg.ShapeError, match="at least two dimensions"):
        np.trace(v)


def test_an_axis_of_a_zero_dimensional_array_is_an_axis_error_as_numpys():
    v = sg.symbols("v", shape=(3,))
    with pytest.raises(np.exceptions.AxisError):  # numpy's verdict on a number
        np.linalg.norm(np.array(1.0), axis=0)
    for z in (sg.symbols("z", shape=()), sg.symbols("s")):
        for call in (
            lambda a: np.linalg.norm(a, axis=0),
            lambda a: np.linalg.norm(a, 2, -1),
            lambda a: sg.norm(a, 1, axis=(0,)),
            lambda a: np.tensordot(a, v, ([0], [0])),
        ):
            with pytest.raises(sg.AxisError, match=r"shape \(\)"):
                call(z)


# -- joining and reshaping ----------------------------------------------------------------------


def test_joining_and_reshaping_give_symbolic_arrays_numpy_shaped():
    a, b = sg.symbols("a", shape=(2, 3)), sg.symbols("b", shape=(3,))
    cases = {
        "concatenate": (np.concatenate([a, b[None]]), (3, 3)),
        "concatenate axis 1": (sg.concatenate([a, a], axis=1), (2, 6)),
        "concatenate None": (np.concatenate([a, b], axis=None), (9,)),
        "stack": (np.stack([b, b, b], axis=1), (3, 3)),
        "sg.stack": (sg.stack([a[0], b]), (2, 3)),
        "hstack": (np.hstack([b, b]), (6,)),
        "vstack": (np.vstack([a, b]), (3, 3)),
        "reshape": (np.reshape(a, (3, 2)), (3, 2)),
        "sg.reshape": (sg.reshape(a, -1), (6,)),
        "method reshape": (a.reshape(3, 2), (3, 2)),
        "transpose": (np.transpose(a), (3, 2)),
        "sg.transpose": (sg.transpose(a[None], (2, 0, 1)), (3, 1, 2)),
        ".T": (a.T, (3, 2)),
    }
    for name, (got, shape) in cases.items():
        assert isinstance(got, SymbolicArray) and got.shape == shape, name
        assert isinstance(got > 0, SymbolicArray), name  # comparisons work on every result
    scalars = np.stack([sg.symbols("x"), sg.symbols("y")])  # numpy functions on bare nodes, too
    assert isinstance(scalars, SymbolicArray) and scalars.shape == (2,)
    v = np.arange(6.0).reshape(2, 3)
    fn = sg.compile([np.concatenate([a, b[None]]), np.vstack([a, b]).T, np.reshape(a, (3, 2))], inputs=[a, b])
    want = [np.concatenate([v, v[0][None]]), np.vstack([v, v[0]]).T, v.reshape(3, 2)]
    for g, w in zip(fn(v, v[0]), want):
        np.testing.assert_array_equal(g, w)


def test_joining_and_reshaping_errors_are_symgrad_errors():
    a, b = sg.symbols("a", shape=(2, 3)), sg.symbols("b", shape=(2,))
    with pytest.raises(sg.ShapeError, match="concatenate"):
        np.concatenate([a, b])
    with pytest.raises(sg.AxisError, match="concatenate"):
        np.concatenate([a, a], axis=2)
    with pytest.raises(sg.ShapeError, match="stack"):
        np.stack([a, b])
    with pytest.raises(sg.ShapeError, match="reshape"):
        np.reshape(a, (4,))
    with pytest.raises(sg.ShapeError, match="transpose"):
        np.transpose(a, (0, 0))
    with pytest.raises(sg.InputError, match="sequence"):
        sg.stack(sg.symbols("x"))


def test_formulas_reach_det_inv_and_trace():
    shapes = {"A": (2, 2)}
    a = np.array([[2.0, 1.0], [0.5, 3.0]])
    for text, want in {"det(A)": np.linalg.det(a), "inv(A)": np.linalg.inv(a), "trace(A)": np.trace(a)}.items():
        parsed = sg.parse_formula(text, shapes=shapes)
        got = sg.compile(parsed.value, inputs=[parsed.symbols["A"]])(a)
        np.testing.assert_allclose(got, want, rtol=1e-14, err_msg=text)


@pytest.mark.parametrize(
    ("a_shape", "b_shape", "fn"),
    [
        ((2, 0), (0, 3), lambda a, b: np.tensordot(a, b, axes=1)),
        ((2, 0, 3), (0, 3, 4), lambda a, b: np.tensordot(a, b, axes=2)),
        ((2, 2, 0), (3, 0, 4), np.dot),  # dot of 3-d operands is a tensordot
    ],
)
def test_tensordot_over_an_empty_axis_is_zeros_as_numpys(a_shape, b_shape, fn):
    fn_sg = sg.compile(fn, shapes=[a_shape, b_shape])
    want = fn(np.ones(a_shape), np.ones(b_shape))
    got = fn_sg(np.ones(a_shape), np.ones(b_shape))
    assert np.shape(got) == want.shape
    np.testing.assert_array_equal(got, want)


def test_norms_of_no_elements_are_numpys():
    with np.errstate(all="ignore"):
        for shape in ((0,), (2, 0), (0, 2)):
            zeros = np.zeros(shape)
            calls = [(o, ax) for o in (None, 1, 3, -1, np.inf) for ax in ((None,) if len(shape) == 1 else (0, 1))]
            calls += [(o, None) for o in (1, np.inf, "fro")] if len(shape) == 2 else []
            for ord, axis in calls:
                got = sg.compile(lambda a, o=ord, ax=axis: np.linalg.norm(a, o, axis=ax), shapes=[shape])(zeros)
                np.testing.assert_array_equal(
                    got, np.linalg.norm(zeros, ord, axis=axis), err_msg=f"{shape} {ord} {axis}"
                )


@pytest.mark.parametrize(
    "fn",
    [
        lambda a, b: (a > 0) @ (b > 0),
        lambda a, b: np.dot(a > 0, b > 0),
        lambda a, b: np.matmul(a > 0, b[:, :1] > 0),
        lambda a, b: np.vdot(a > 0, b > 0),
        lambda a, b: np.tensordot(a > 0, b > 0, axes=1),
        lambda a, b: np.einsum("ij,jk->ik", a > 0, b > 0),
        lambda a, b: np.dot(a[0] > 0, b[:, 0] > 0),
        lambda a, b: np.vecdot(a > 0, b.T > 0),
        lambda a, b: (a > 0) @ b,  # a float operand: a float product, the sum
    ],
)
def test_products_of_boolean_arrays_are_logical_as_numpys(fn):
    a, b = RNG.normal(size=(3, 3)), RNG.normal(size=(3, 3))
    a[0] = b[:, 0] = 1.0  # a[0] . b[:, 0] counts 3 true pairs: a logical or is 1
    want = np.asarray(fn(a, b), dtype=float)
    got = sg.compile(fn, shapes=[(3, 3), (3, 3)])(a, b)
    np.testing.assert_allclose(got, want, rtol=1e-14)


@pytest.mark.parametrize(
    ("fn", "shapes"),
    [
        (np.vecdot, [(2, 3), (3,)]),
        (lambda a, b: np.vecdot(a, b, axis=0), [(3, 2), (3, 1)]),
        (np.vecdot, [(2, 1, 3), (4, 3)]),  # the other axes broadcast
        (np.linalg.vecdot, [(2, 3), (2, 3)]),
    ],
)
def test_vecdot_follows_numpy_with_its_gradient(fn, shapes):
    a, b = (RNG.normal(size=s) for s in shapes)
    np.testing.assert_allclose(sg.compile(fn, shapes=shapes)(a, b), fn(a, b), rtol=1e-14)
    grads = sg.grad(lambda x, y: np.sum(fn(x, y)), argnums=(0, 1), shapes=shapes)(a, b)
    want = central_jacobian(lambda x: np.sum(fn(x, b)), a)
    np.testing.assert_allclose(grads[0], want, rtol=1e-6, atol=1e-8)


def test_vecdot_errors_are_symgrads():
    v = sg.symbols("v", shape=(3, 2))
    with pytest.raises(sg.ShapeError, match=r"vecdot: axis 0 of shapes \(3, 2\) and \(2,\)"):
        np.vecdot(v, np.ones(2), axis=0)
    with pytest.raises(sg.AxisError):
        np.vecdot(v, v, axis=2)

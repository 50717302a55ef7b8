"""Bad input gives one clear error of symgrad's own classes, naming the argument and the shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from oracle import raises_symgrad

import symgrad as sg


class TestArguments:
    def test_wrong_number_names_the_arguments(self):
        f = sg.grad(lambda x, y: x * y, argnums=(0, 1))
        for call in (lambda: f(1.0), lambda: f(np.ones(2)), lambda: f(1.0, 2.0, 3.0)):
            raises_symgrad(sg.InputError, call, "2 argument", "x, y")
        assert f(2.0, 3.0) == (3.0, 2.0)  # still usable afterwards

    def test_batches_that_do_not_broadcast(self):
        f = sg.compile(lambda x, v: x * sg.sum(v), shapes={"v": (2,)})
        raises_symgrad(sg.ShapeError, lambda: f(np.ones(3), np.ones((4, 2))), "x: (3,)", "v: (4,)", "broadcast")

    def test_wrong_trailing_shape(self):
        f = sg.grad(lambda m: sg.sum(m * m), shapes={"m": (2, 2)})
        raises_symgrad(sg.ShapeError, lambda: f(np.ones((2, 3))), "'m'", "(2, 2)", "(2, 3)")
        raises_symgrad(sg.ShapeError, lambda: f(1.0), "'m'", "(2, 2)")
        np.testing.assert_array_equal(f(np.ones((5, 2, 2))), 2 * np.ones((5, 2, 2)))

    @pytest.mark.parametrize(
        "bad, needle",
        [
            (np.array([object(), object()]), "object"),
            (np.array(["a"]), "numeric"),
            ("1.0", "numeric"),
            (None, "numeric"),
            (1 + 2j, "complex"),
            (np.array([1.0, 2j]), "complex"),
            ([[1.0, 2.0], [3.0]], "ragged"),
        ],
        ids=["object", "str-array", "str", "None", "complex", "complex-array", "ragged"],
    )
    def test_non_numeric_and_complex(self, bad, needle):
        for f in (sg.compile(lambda x, y: x + y), sg.grad(lambda x, y: x * y)):
            raises_symgrad(sg.InputError, lambda f=f: f(1.0, bad), "'y'", needle)

    def test_python_numbers_of_every_kind_are_accepted(self):
        f = sg.compile(lambda x: 2 * x)
        assert f(True) == 2.0 and f(3) == 6.0 and f(np.float32(1.5)) == 3.0 and f(np.int64(2)) == 4.0


class TestDifferentiation:
    @pytest.mark.parametrize("make", [lambda x, y: x + 1, lambda x, y: 2 * x, lambda x, y: x * y, lambda x, y: 2.5])
    def test_wrt_something_that_is_not_a_symbol(self, make):
        x, y = sg.symbols("x y")
        bad = make(x, y)
        e = x**2 * y
        for call in (
            lambda: sg.diff(e, bad),
            lambda: sg.gradient(e, [x, bad]),
            lambda: sg.jacobian(np.array([e, x]), [bad]),
            lambda: sg.hessian(e, [bad, y]),
        ):
            raises_symgrad(sg.DiffError, call, "symbols", str(bad))

    def test_bad_argnums(self):
        raises_symgrad(sg.InputError, lambda: sg.grad(lambda x, y: x * y, argnums=2), "argnums", "2 argument")
        raises_symgrad(sg.InputError, lambda: sg.grad(lambda x: x, argnums="x"), "argnums")

    def test_grad_of_non_scalar_output_names_shape_and_points_to_jacobian(self):
        err = raises_symgrad(
            sg.DiffError, lambda: sg.grad(lambda a: a * np.ones(2)), "grad", "scalar", "(2,)", "jacobian"
        )
        assert "vectorized" not in str(err)
        raises_symgrad(sg.DiffError, lambda: sg.grad(lambda a: np.ones((2, 3)) * a), "(2, 3)")
        raises_symgrad(sg.DiffError, lambda: sg.grad(lambda a: (a, a)), "tuple")
        # the product itself follows numpy, and its Jacobian is the closed form d(a*c)/da = c
        c = np.array([1.5, -2.0])
        np.testing.assert_array_equal(sg.compile(lambda a: a * c)(3.0), 3.0 * c)
        np.testing.assert_array_equal(sg.compile(lambda a: c * a)(np.array([1.0, 2.0])), np.outer([1.0, 2.0], c))
        np.testing.assert_array_equal(sg.jacobian(lambda a: a * c)(3.0), c)
        assert sg.grad(lambda a: np.sum(a * c))(3.0) == c.sum()

    def test_zero_d_arrays_act_as_numbers(self):
        assert sg.grad(lambda a: np.array(2.5) * a**2)(2.0) == 10.0


class TestControlFlow:
    @pytest.mark.parametrize(
        "fn",
        [
            lambda x: x if x > 0 else -x,
            lambda x: x > 0 and x < 1,
            lambda x: max(x, 0.0),
            lambda x: [v for v in (x, 2 * x) if v],
        ],
        ids=["if", "and", "max", "filter"],
    )
    def test_python_control_flow_points_to_where(self, fn):
        for transform in (sg.grad, sg.compile, sg.hessian):
            raises_symgrad(sg.TraceError, lambda t=transform: t(fn), "sg.where")

    def test_where_instead(self):
        g = sg.grad(lambda x: sg.where(x > 0, x, -x))
        np.testing.assert_array_equal(g(np.array([-2.0, 3.0])), [-1.0, 1.0])

    def test_indexing_an_undeclared_argument_says_how_to_declare_it(self):
        raises_symgrad(sg.TraceError, lambda: sg.grad(lambda v: v[0] * v[1]), "shapes=", "v: a scalar")

    def test_math_module_on_symbols(self):
        raises_symgrad(sg.TraceError, lambda: sg.grad(lambda x: math.sin(x)), "float", "sg.sin")
        raises_symgrad(sg.UnsupportedOpError, lambda: sg.grad(lambda x: math.floor(x)), "floor")
        raises_symgrad(sg.UnsupportedOpError, lambda: sg.grad(lambda x: round(x)), "round")


class TestUnsupportedNumpy:
    @pytest.mark.parametrize(
        "fn, shape, name",
        [
            (lambda x: np.rint(x), None, "numpy.rint"),
            (lambda x: np.deg2rad(x), None, "numpy.deg2rad"),
            (lambda a: np.sum(np.deg2rad(a)), (3,), "numpy.deg2rad"),
            (lambda a: np.fft.fft(a)[0], (4,), "numpy.fft.fft"),
            (lambda a: np.linalg.svd(a)[1][0], (2, 2), "numpy.linalg.svd"),
            (lambda a: np.linalg.eigvals(a)[0], (2, 2), "numpy.linalg.eigvals"),
            (lambda a: np.sort(a)[0], (3,), "numpy.sort"),
            (lambda x: np.sort(x), None, "numpy.sort"),
            (lambda a: np.median(a), (3,), "numpy.median"),
            (lambda x: np.linalg.norm(np.array([x, 1.0]), 3), None, "numpy.linalg.norm"),  # numpy asks x.dtype
            (lambda x: np.add.accumulate(x), None, "numpy.add.accumulate"),
            (lambda x: np.sin(x, out=np.empty(())), None, "numpy.sin(out=...)"),
            (lambda x: np.sin(x, where=True), None, "numpy.sin(where=...)"),
        ],
        ids=[
            "rint",
            "deg2rad",
            "deg2rad-array",
            "fft",
            "svd",
            "eigvals",
            "sort",
            "sort-scalar",
            "median",
            "norm-of-a-plain-object-array",
            "accumulate0d",
            "out",
            "where",
        ],
    )
    def test_named(self, fn, shape, name):
        shapes = None if shape is None else {0: shape}
        for transform in (sg.compile, sg.grad):
            err = raises_symgrad(sg.UnsupportedOpError, lambda t=transform: t(fn, shapes=shapes), repr(name))
            assert name in str(err)

    def test_expression_style(self):
        x = sg.symbols("x")
        raises_symgrad(sg.UnsupportedOpError, lambda: np.rint(x), "numpy.rint")
        raises_symgrad(sg.UnsupportedOpError, lambda: np.fft.fft(x), "numpy.fft.fft")
        raises_symgrad(sg.UnsupportedOpError, lambda: np.linalg.eigvals(x), "numpy.linalg.eigvals")
        raises_symgrad(sg.UnsupportedOpError, lambda: np.multiply.at(x, 0, 2), "numpy.multiply.at")

    def test_ufunc_methods_that_are_recorded_follow_numpy(self):
        a = sg.symbols("a", shape=(3,))
        b = sg.symbols("b", shape=(2,))
        va, vb = np.array([0.5, -1.0, 2.0]), np.array([3.0, 0.25])
        cases = [
            (lambda a, b: np.add.reduce(a), lambda a, b: np.add.reduce(a)),
            (lambda a, b: np.multiply.accumulate(a), lambda a, b: np.multiply.accumulate(a)),
            (lambda a, b: np.subtract.outer(a, b), lambda a, b: np.subtract.outer(a, b)),
            (lambda a, b: np.add.reduce(a[0], axis=None, initial=2.0), lambda a, b: a[0] + 2.0),
            (lambda a, b: np.where(a[0] > 0, a[0], 0.0), lambda a, b: np.where(a[0] > 0, a[0], 0.0)),
            (lambda a, b: np.clip(a[1], 0.0, 1.0), lambda a, b: np.clip(a[1], 0.0, 1.0)),
        ]
        for sym_fn, np_fn in cases:
            got = sg.compile(sym_fn(a, b), inputs=[a, b])(va, vb)
            np.testing.assert_allclose(got, np_fn(va, vb), rtol=1e-15)
        # the scalar node itself goes through Node.__array_ufunc__
        x = sg.symbols("x")
        assert sg.compile(np.add.outer(x, np.array([1.0, 2.0])), inputs=[x])(1.0).tolist() == [2.0, 3.0]


def test_numpy_functions_on_an_np_array_of_traced_values_point_to_sg_stack():
    # numpy runs its object loop on a plain object array: np.maximum compares the nodes themselves
    def plain(x, y):
        return np.sum(np.maximum(np.array([x, y]), 0.5))

    raises_symgrad(sg.TraceError, lambda: sg.jit(plain)(1.0, 0.2), "np.array([...])", "sg.stack([...])")
    assert sg.jit(lambda x, y: np.sum(np.maximum(sg.stack([x, y]), 0.5)))(1.0, 0.2) == 1.5

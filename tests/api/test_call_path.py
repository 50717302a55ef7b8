"""What a compiled function gives for the values a caller passes: each kind of argument, on every path."""

from __future__ import annotations

import shutil
from typing import NamedTuple

import numpy as np
import pytest

import symgrad as sg

needs_cc = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
BACKENDS = ["numpy", pytest.param("c", marks=needs_cc)]


@pytest.mark.parametrize("x", [1.00000001, 1, 3.0000002])
def test_float32_plain_floats_compute_in_float32(x):
    """dtype="float32": Python floats are cast and every step rounds to float32, as with float32 arrays.

    The numpy backend's scalar fast path computed them in float64 and rounded only the
    results: x - 1 at 1.00000001 was 1e-08 where float32 (a float32 array, the C backend) gives 0.
    """
    f = sg.compile(lambda x: (x - 1.0) * 3.0, dtype="float32")
    want = (np.float32(x) - np.float32(1.0)) * np.float32(3.0)
    got = f(x)
    assert type(got) is np.float32 and got == want
    assert got == f(np.array([x], dtype=np.float32))[0]
    g = sg.value_and_grad(lambda x, y: np.exp(x) * y - x, argnums=(0, 1), dtype="float32")
    value, (gx, gy) = g(x, 2.5)
    arrays = g(np.float32(x), np.float32(2.5))
    assert all(type(v) is np.float32 for v in (value, gx, gy))
    assert (value, gx, gy) == (arrays[0], *arrays[1])


def test_an_argument_named_self_is_taken_by_keyword():
    """Keyword arguments bind to the function's own names, ``self`` too (the call methods' own is positional-only).

    Every compiled callable raised Python's TypeError "got multiple values for argument 'self'".
    """

    def f(self, x):
        return self * x**2

    s, x = np.array([2.0, -1.0]), np.array([3.0, 0.5])
    np.testing.assert_allclose(sg.compile(f)(self=s, x=x), s * x**2, rtol=1e-15)
    np.testing.assert_allclose(sg.compile(f, backend="numpy")(s, x=x), s * x**2, rtol=1e-15)
    np.testing.assert_allclose(sg.grad(f, argnums=1)(self=s, x=x), 2 * s * x, rtol=1e-15)
    np.testing.assert_allclose(sg.vmap(f)(self=s, x=x), s * x**2, rtol=1e-15)
    sparse = sg.hessian(f, argnums=(0, 1), sparse=True)(self=s, x=x)
    dense = np.zeros((2, 2, 2))
    dense[:, 0, 1] = dense[:, 1, 0] = 2 * x
    dense[:, 1, 1] = 2 * s
    np.testing.assert_allclose(sparse.todense(), dense, rtol=1e-15)
    mean = sg.compile(f, data=("x",))(self=2.0, x=x)
    assert mean == pytest.approx(np.mean(2.0 * x**2), rel=1e-15)
    with pytest.raises(sg.InputError, match="multiple values for argument 'self'"):
        sg.compile(f)(2.0, self=2.0)


class Pair(NamedTuple):
    first: object
    second: object


@pytest.mark.parametrize("backend", BACKENDS)
def test_namedtuples_are_pytrees_rebuilt_as_their_class(backend):
    """A namedtuple output, aux, argument or cotangent comes back as that namedtuple, as JAX's pytrees do.

    Tracing rebuilt outputs with ``type(out)(generator)``, which a namedtuple's constructor
    does not take: sg.compile(lambda x: Pair(x, 2 * x)) raised Python's TypeError
    "missing 1 required positional argument", and a namedtuple argument reached the
    function as a plain tuple (``p.first`` an AttributeError).
    """
    x = np.array([0.5, -1.5, 2.0])
    out = sg.compile(lambda v: Pair(v**2, {"k": 3 * v}), backend=backend)(x)
    assert type(out) is Pair and type(out.second) is dict
    np.testing.assert_allclose(out.first, x**2, rtol=1e-15)
    np.testing.assert_allclose(out.second["k"], 3 * x, rtol=1e-15)
    scalar = sg.compile(lambda v: Pair(v, 2 * v), backend=backend)(1.5)
    assert type(scalar) is Pair and scalar == (1.5, 3.0)
    g, aux = sg.grad(lambda v: (v**3, Pair(v, 1.0)), has_aux=True, backend=backend)(x)
    np.testing.assert_allclose(g, 3 * x**2, rtol=1e-15)
    assert type(aux) is Pair
    np.testing.assert_allclose(aux.first, x, rtol=1e-15)
    jac = sg.jacobian(lambda v: Pair(v**2, np.sin(v)), backend=backend)(x)
    assert type(jac) is Pair
    np.testing.assert_allclose(jac.second, np.cos(x), rtol=1e-15)

    def loss(p):
        return p.first**2 * np.sum(p.second)

    w = np.array([1.0, 3.0])
    grads = sg.grad(loss, shapes={"p": Pair(None, (2,))}, backend=backend)(Pair(2.0, w))
    assert type(grads) is Pair
    assert grads.first == pytest.approx(2 * 2.0 * np.sum(w), rel=1e-15)
    np.testing.assert_allclose(grads.second, np.full(2, 2.0**2), rtol=1e-15)
    value, back = sg.vjp(lambda v: Pair(v**2, 3 * v), 2.0, backend=backend)
    assert type(value) is Pair and value == (4.0, 6.0)
    assert back(Pair(1.0, 1.0)) == (2 * 2.0 + 3.0,)
    mapped = sg.vmap(lambda v: Pair(v**2, v), out_axes=Pair(0, 0), backend=backend)(x)
    assert type(mapped) is Pair
    np.testing.assert_allclose(mapped.first, x**2, rtol=1e-15)


def test_vmap_of_a_ragged_list_is_a_symgrad_error_naming_the_argument():
    """A ragged nested list is an InputError naming the argument under vmap too, as in a direct call.

    sg.vmap read a mapped argument with np.asarray and an unmapped one with np.ndim, so numpy's
    ValueError ("inhomogeneous shape") escaped.
    """
    f = sg.vmap(lambda a, b: a[0] * b, in_axes=(0, None), shapes={"a": (2,)})
    np.testing.assert_allclose(f([[1.0, 2.0], [3.0, 4.0]], 2.0), [2.0, 6.0], rtol=1e-15)
    with pytest.raises(sg.InputError, match="argument 'a' is not a numeric array"):
        f([[1.0, 2.0], [3.0]], 2.0)
    with pytest.raises(sg.InputError, match="argument 'b' is not a numeric array"):
        f([[1.0, 2.0]], [[1.0], [2.0, 3.0]])
    with pytest.raises(sg.InputError, match="argument 'a' is not a numeric array"):
        sg.compile(lambda a, b: a[0] * b, shapes={"a": (2,)})([[1.0, 2.0], [3.0]], 2.0)

"""A vmapped function inside another transformation, as in JAX: grad of a vmapped loss, vmap of a vmap.

Both were refused ("a vmapped function cannot be traced... apply sg.vmap last"), where
``jax.grad(lambda w: jnp.sum(jax.vmap(f, (None, 0))(w, X)))`` and nested ``jax.vmap``
(pairwise kernels) are everyday JAX.  The oracles are numpy's closed forms.
"""

import numpy as np
import pytest

import symgrad as sg

X = np.array([1.0, -2.0, 0.5, 3.0])


@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_grad_of_a_sum_over_a_vmapped_function(backend):
    per_example = sg.vmap(lambda w, x: sg.sin(w * x), in_axes=(None, 0), backend=backend)
    grad = sg.grad(lambda w: sg.sum(per_example(w, X)), backend=backend)
    for w in (1.5, -0.25):
        assert grad(w) == pytest.approx(float(np.sum(np.cos(w * X) * X)), rel=1e-14)


def test_grad_of_a_vmapped_vector_function_over_the_rows():
    # f(v) = |v|**2 v0 per row: d/dv0 = |v|**2 + 2 v0**2, d/dvi = 2 vi v0
    rows = sg.vmap(lambda v: sg.sum(v**2) * v[0], shapes={"v": (3,)})
    grad = sg.grad(lambda w: sg.sum(rows(w)), shapes={"w": (2, 3)})
    w = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    want = 2 * w * w[:, :1]
    want[:, 0] += np.sum(w**2, axis=1)
    np.testing.assert_allclose(grad(w), want, rtol=1e-14)


def test_vmap_of_vmap_is_the_outer_product_table():
    x, y = np.array([0.1, 0.2, 0.3]), np.array([1.0, 2.0])
    inner = sg.vmap(lambda a, b: sg.sin(a) * b, in_axes=(0, None))
    outer = sg.vmap(inner, in_axes=(None, 0), shapes={"a": (3,), "b": ()})
    np.testing.assert_allclose(outer(x, y), np.sin(x)[None, :] * y[:, None], rtol=1e-15)
    # the mapped axes placed last instead: a transpose
    outer_t = sg.vmap(inner, in_axes=(None, 0), out_axes=1, shapes={"a": (3,), "b": ()})
    np.testing.assert_allclose(outer_t(x, y), np.sin(x)[:, None] * y[None, :], rtol=1e-15)


def test_pairwise_squared_distances_by_two_vmaps():
    pts = np.array([[0.0, 1.0], [2.0, -1.0], [0.5, 0.5]])
    dist = lambda p, q: sg.sum((p - q) ** 2)
    table = sg.vmap(
        sg.vmap(dist, in_axes=(None, 0), shapes={"p": (2,), "q": (2,)}),
        in_axes=(0, None),
        shapes={"p": (2,), "q": (3, 2)},
    )
    want = np.sum((pts[:, None, :] - pts[None, :, :]) ** 2, axis=-1)
    np.testing.assert_allclose(table(pts, pts), want, rtol=1e-15)

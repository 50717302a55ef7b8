"""JAX users' function transformations: has_aux, pytrees, keyword calls, jacfwd/jacrev/jit and vmap.

Numbers are checked against numpy and central finite differences; structures
and has_aux layouts against JAX's documented ones (``grad(f, has_aux=True)(x)``
is ``(g, aux)``, ``value_and_grad(f, has_aux=True)(x)`` is ``((value, aux), g)``,
a derivative with respect to a dict is a dict like it).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from oracle import raises_symgrad

import symgrad as sg
from symgrad.api.options import CompileOptions

RNG = np.random.default_rng(12)
HAS_CC = shutil.which("cc") is not None or shutil.which("gcc") is not None
BACKENDS = ["numpy", pytest.param("c", marks=pytest.mark.skipif(not HAS_CC, reason="no C compiler"))]


def fd_grad(f, x, h=1e-6):
    """Central differences of a scalar f at the array x, shaped like x."""
    x = np.asarray(x, dtype=float)
    out = np.zeros(x.shape)
    for idx in np.ndindex(*x.shape):
        e = np.zeros(x.shape)
        e[idx] = h
        out[idx] = (f(x + e) - f(x - e)) / (2 * h)
    return out


def fd_tree_grad(f, params: dict, h=1e-6) -> dict:
    """Central differences of a scalar f(params) with respect to each leaf of a dict of arrays."""
    return {k: fd_grad(lambda v, k=k: f({**params, k: v}), params[k], h) for k in params}


# -----------------------------------------------------------------------------------
# has_aux
# -----------------------------------------------------------------------------------


def _with_aux(x, y):
    loss = x**2 * y + sg.sin(x)
    return loss, {"loss": loss, "scaled": 3 * x, "const": 2.0, "pair": (x * y, y)}


class TestHasAux:
    @pytest.mark.parametrize("backend", BACKENDS)
    def test_grad_with_aux_returns_the_gradient_and_the_evaluated_aux(self, backend):
        g = sg.grad(_with_aux, has_aux=True, backend=backend)
        grad, aux = g(1.5, 2.0)
        assert grad == pytest.approx(2 * 1.5 * 2.0 + np.cos(1.5))
        loss = 1.5**2 * 2.0 + np.sin(1.5)
        assert aux == {"loss": pytest.approx(loss), "scaled": 4.5, "const": 2.0, "pair": (3.0, 2.0)}

    def test_value_and_grad_with_aux_is_jax_layout(self):
        vg = sg.value_and_grad(_with_aux, argnums=(0, 1), has_aux=True)
        (value, aux), (gx, gy) = vg(1.5, 2.0)
        assert value == pytest.approx(1.5**2 * 2.0 + np.sin(1.5)) == pytest.approx(aux["loss"])
        assert (gx, gy) == (pytest.approx(2 * 1.5 * 2.0 + np.cos(1.5)), pytest.approx(1.5**2))

    def test_aux_is_not_differentiated_and_shares_the_kernel(self):
        g = sg.grad(lambda x: (x**3, x**3), has_aux=True)
        assert isinstance(g, sg.Compiled)  # one compiled object: aux is computed in the same fused kernel
        xs = np.linspace(-1, 1, 5)
        grad, aux = g(xs)
        np.testing.assert_allclose(grad, 3 * xs**2)
        np.testing.assert_allclose(aux, xs**3)

    @pytest.mark.parametrize("jac", [sg.jacobian, sg.jacfwd, sg.jacrev])
    def test_jacobian_with_aux(self, jac):
        j = jac(lambda v: (v**2, sg.sum(v)), shapes={"v": (3,)}, has_aux=True)
        v = np.array([1.0, -2.0, 0.5])
        jac_value, aux = j(v)
        np.testing.assert_allclose(jac_value, np.diag(2 * v))
        assert float(aux) == pytest.approx(v.sum())

    def test_hessian_with_aux(self):
        h, aux = sg.hessian(lambda x, y: (x**2 * y, x + y), argnums=(0, 1), has_aux=True)(2.0, 3.0)
        assert h == ((6.0, 4.0), (4.0, 0.0)) and aux == 5.0

    def test_jvp_and_vjp_with_aux_are_jax_layout(self):
        # jax.jvp(..., has_aux=True) -> (out, tangent_out, aux); jax.vjp(..., has_aux=True) -> (out, vjp_fn, aux)
        out, tangent, aux = sg.jvp(_with_aux, (1.5, 2.0), (1.0, 0.5), has_aux=True)
        assert out == pytest.approx(1.5**2 * 2.0 + np.sin(1.5)) == pytest.approx(aux["loss"])
        assert tangent == pytest.approx((2 * 1.5 * 2.0 + np.cos(1.5)) * 1.0 + 1.5**2 * 0.5)
        assert aux["pair"] == (3.0, 2.0)
        out, back, aux = sg.vjp(_with_aux, 1.5, 2.0, has_aux=True)
        assert out == pytest.approx(aux["loss"]) and aux["scaled"] == 4.5
        assert back(2.0) == (pytest.approx(2 * (2 * 1.5 * 2.0 + np.cos(1.5))), pytest.approx(2 * 1.5**2))
        (pair, pair_tangent) = sg.jvp(_with_aux, (1.5, 2.0), (1.0, 0.5))  # the code is kept per has_aux
        assert pair[0] == pytest.approx(out) and pair_tangent[0] == pytest.approx(tangent)
        raises_symgrad(sg.InputError, lambda: sg.vjp(lambda x: x**2, 1.0, has_aux=True), "vjp(has_aux=True)", "pair")
        raises_symgrad(sg.InputError, lambda: sg.jvp(_with_aux, (1.0, 2.0), (1.0, 1.0), has_aux=1), "has_aux")

    def test_has_aux_on_a_function_not_returning_a_pair(self):
        for fn, got in ((lambda x: x**2, "one value"), (lambda x: (x, x, x), "tuple of 3")):
            for transform in (sg.grad, sg.value_and_grad, sg.jacobian, sg.jacfwd):
                raises_symgrad(sg.InputError, lambda t=transform, f=fn: t(f, has_aux=True), "has_aux=True", "pair", got)

    def test_has_aux_must_be_a_bool_and_is_not_a_codegen_option(self):
        raises_symgrad(sg.InputError, lambda: sg.grad(_with_aux, has_aux="yes"), "has_aux")
        raises_symgrad(sg.InputError, lambda: CompileOptions.build("grad", has_aux=True), "unknown option 'has_aux'")
        raises_symgrad(sg.InputError, lambda: sg.compile(lambda x: x, has_aux=True), "unknown option 'has_aux'")
        raises_symgrad(sg.InputError, lambda: sg.grad(lambda x: x, has_auks=True), "unknown option 'has_auks'")


# -----------------------------------------------------------------------------------
# pytrees
# -----------------------------------------------------------------------------------

MLP_SHAPES = {"params": {"W1": (3, 4), "b1": (4,), "W2": (4, 1), "b2": (1,)}, "x": (6, 3), "y": (6, 1)}


def mlp_loss(params, x, y):
    hidden = np.tanh(x @ params["W1"] + params["b1"])
    pred = hidden @ params["W2"] + params["b2"]
    return sg.mean((pred - y) ** 2)


def mlp_loss_np(params, x, y):
    hidden = np.tanh(x @ params["W1"] + params["b1"])
    return float(np.mean((hidden @ params["W2"] + params["b2"] - y) ** 2))


def _mlp_data():
    rng = np.random.default_rng(3)
    params = {k: rng.normal(scale=0.7, size=s) for k, s in MLP_SHAPES["params"].items()}
    x = rng.normal(size=(6, 3))
    y = np.sin(x.sum(axis=1, keepdims=True))
    return params, x, y


class TestPytrees:
    @pytest.mark.parametrize("backend", BACKENDS)
    def test_mlp_training_step_decreases_the_loss(self, backend):
        params, x, y = _mlp_data()
        vg = sg.value_and_grad(mlp_loss, shapes=MLP_SHAPES, backend=backend)
        loss, grads = vg(params, x, y)
        assert loss == pytest.approx(mlp_loss_np(params, x, y))
        assert isinstance(grads, dict) and list(grads) == list(params)
        expected = fd_tree_grad(lambda p: mlp_loss_np(p, x, y), params)
        for k in params:
            assert grads[k].shape == params[k].shape
            np.testing.assert_allclose(grads[k], expected[k], rtol=1e-5, atol=1e-7)
        stepped = {k: params[k] - 0.1 * grads[k] for k in params}
        new_loss, _ = vg(stepped, x, y)
        assert new_loss < loss

    def test_argnums_tuple_gives_a_tuple_of_structures(self):
        params, x, y = _mlp_data()
        gp, gx = sg.grad(mlp_loss, argnums=(0, 1), shapes=MLP_SHAPES)(params, x, y)
        assert set(gp) == set(params) and gx.shape == x.shape
        np.testing.assert_allclose(gx, fd_grad(lambda v: mlp_loss_np(params, v, y), x), rtol=1e-5, atol=1e-7)

    def test_positional_shapes_and_nested_lists(self):
        def f(layers, x):
            return sg.sum(np.tanh(x @ layers[0]["W"]) * layers[1])

        g = sg.grad(f, shapes=[[{"W": (3, 2)}, (2,)], (3,)])
        layers, x = [{"W": RNG.normal(size=(3, 2))}, RNG.normal(size=2)], RNG.normal(size=3)
        out = g(layers, x)
        assert isinstance(out, list) and set(out[0]) == {"W"} and out[1].shape == (2,)

        def np_f(W, b):
            return float(np.sum(np.tanh(x @ W) * b))

        np.testing.assert_allclose(out[0]["W"], fd_grad(lambda W: np_f(W, layers[1]), layers[0]["W"]), rtol=1e-6)
        np.testing.assert_allclose(out[1], np.tanh(x @ layers[0]["W"]), rtol=1e-12)
        assert g((layers[0], layers[1]), x)[1] == pytest.approx(out[1])  # a tuple stands for a list

    def test_dict_of_scalars_with_none_leaves(self):
        g = sg.grad(lambda p: p["a"] ** 2 * p["b"], shapes={"p": {"a": None, "b": None}})
        assert g({"a": 3.0, "b": 2.0}) == {"a": 12.0, "b": 9.0}
        batch = g({"b": np.array([1.0, 2.0]), "a": 3.0})  # any key order; leaves batch like arguments
        np.testing.assert_allclose(batch["a"], [6.0, 12.0])

    def test_dict_outputs_and_jacobians_of_dicts(self):
        def f(p):
            return {"sum": sg.sum(p["w"]) * p["s"], "sq": p["w"] ** 2}

        shapes = {"p": {"w": (2,), "s": None}}
        p = {"w": np.array([1.0, 3.0]), "s": 2.0}
        out = sg.compile(f, shapes=shapes)(p)
        assert out["sum"] == 8.0 and list(out["sq"]) == [1.0, 9.0]
        jac = sg.jacobian(f, shapes=shapes)(p)  # output structure outside, argument structure inside (JAX)
        np.testing.assert_allclose(jac["sum"]["w"], [2.0, 2.0])
        assert float(jac["sum"]["s"]) == 4.0
        np.testing.assert_allclose(jac["sq"]["w"], np.diag([2.0, 6.0]))
        np.testing.assert_allclose(jac["sq"]["s"], [0.0, 0.0])
        assert sg.compile(lambda x: {"a": x, "b": (x, 2 * x)})(2.0) == {"a": 2.0, "b": (2.0, 4.0)}
        a, b = sg.symbols("a b")
        assert sg.compile({"p": a * b, "q": [b]})(b=3.0, a=2.0) == {"p": 6.0, "q": [3.0]}  # inputs found in a dict

    def test_hessian_of_a_pytree_is_nested_by_argument_structure(self):
        f = sg.compile(lambda p: p["a"] ** 2 * sg.sum(p["v"] ** 2), shapes={"p": {"a": None, "v": (2,)}})
        h = sg.hessian(f)({"a": 2.0, "v": np.array([1.0, 3.0])})
        assert float(h["a"]["a"]) == 20.0
        np.testing.assert_allclose(h["a"]["v"], [8.0, 24.0])
        np.testing.assert_allclose(h["v"]["a"], [8.0, 24.0])
        np.testing.assert_allclose(h["v"]["v"], 8.0 * np.eye(2))

    def test_grad_of_grad_and_calls_inside_a_trace(self):
        loss = sg.compile(lambda p: sg.sum(p["w"] ** 3), shapes={"p": {"w": (2,)}})
        g = sg.grad(lambda q: loss(q) * 2.0, shapes={"q": {"w": (2,)}})  # a compiled pytree call, traced
        np.testing.assert_allclose(g({"w": np.array([1.0, 2.0])})["w"], [6.0, 24.0])
        assert sg.grad(sg.grad(lambda x: x**4))(2.0) == 48.0

    def test_products_with_pytree_primals(self):
        shapes = {"p": {"w": (2,), "s": None}}

        def f(p):
            return p["s"] * sg.sum(p["w"] ** 2)

        p = {"w": np.array([1.0, 2.0]), "s": 3.0}
        t = {"w": np.array([1.0, 0.0]), "s": 1.0}
        value, tangent = sg.jvp(f, (p,), (t,), shapes=shapes)
        assert value == 15.0 and tangent == pytest.approx(3.0 * 2.0 + 5.0)
        _, back = sg.vjp(f, p, shapes=shapes)
        (ct,) = back(1.0)
        np.testing.assert_allclose(ct["w"], [6.0, 12.0])
        assert float(ct["s"]) == 5.0
        hv = sg.hvp(f, (p,), (t,), shapes=shapes)
        np.testing.assert_allclose(hv["w"], [8.0, 4.0])  # 2 s t_w + 2 w t_s
        assert float(hv["s"]) == 2.0

    @pytest.mark.parametrize("backend", BACKENDS)
    def test_leaf_symbols_print_readably_on_every_backend(self, backend):
        c = sg.grad(lambda params: params["W"][0, 1] ** 2, shapes={"params": {"W": (2, 2)}}, backend=backend)
        assert "params.W[0, 1]" in str(c.outputs["W"][0, 1])
        assert "params.W[0, 1]" in c.source_for("c")
        np.testing.assert_allclose(c({"W": np.full((2, 2), 3.0)})["W"], [[0.0, 6.0], [0.0, 0.0]])
        assert c.shapes == {"params": {"W": (2, 2)}}

    def test_structure_mismatch_names_the_argument_and_both_structures(self):
        g = sg.grad(mlp_loss, shapes=MLP_SHAPES)
        params, x, y = _mlp_data()
        declared = "{'W1': (3, 4), 'b1': (4,), 'W2': (4, 1), 'b2': (1,)}"
        missing = {k: v for k, v in params.items() if k != "b2"}
        e = raises_symgrad(sg.InputError, lambda: g(missing, x, y), "argument 'params'", declared, "'W1': (3, 4)")
        assert "'b2'" not in str(e).split("got")[1]
        raises_symgrad(sg.InputError, lambda: g({**params, "c": 1.0}, x, y), "argument 'params'", "'c': ()")
        raises_symgrad(sg.InputError, lambda: g(params["W1"], x, y), "argument 'params'", declared, "got (3, 4)")
        raises_symgrad(sg.ShapeError, lambda: g({**params, "b1": np.ones(3)}, x, y), "params.b1", "(4,)")
        h = sg.compile(lambda p: p[0] + p[1], shapes={"p": [None, None]})
        raises_symgrad(sg.InputError, lambda: h([1.0, 2.0, 3.0]), "argument 'p'", "[(), ()]", "[(), (), ()]")

    def test_bad_pytree_shapes_are_input_errors_naming_the_leaf(self):
        raises_symgrad(sg.InputError, lambda: sg.grad(lambda p: p["W"], shapes={"p": {"W": "abc"}}), "'p.W'")
        raises_symgrad(
            sg.InputError, lambda: sg.grad(lambda p: p["W"], shapes={"p": {"W": (2, -1)}}), "'p.W'", "negative"
        )

    def test_pytree_not_declared(self):
        raises_symgrad(sg.TraceError, lambda: sg.grad(lambda params: params["W"]), "shapes=", "'params': {")
        f = sg.compile(lambda params: params * 2)
        raises_symgrad(sg.InputError, lambda: f({"W": 1.0}), "argument 'params'", "pytree", "shapes=")

    def test_shapes_of_a_compiled_pytree_function_are_kept_and_checked(self):
        shapes = {"p": {"w": (2,), "s": None}}
        f = sg.compile(lambda p: p["s"] * sg.sum(p["w"]), shapes=shapes)
        g = sg.grad(f, shapes=shapes)
        np.testing.assert_allclose(g({"w": np.ones(2), "s": 2.0})["w"], [2.0, 2.0])
        raises_symgrad(sg.ShapeError, lambda: sg.grad(f, shapes={"p": {"w": (3,), "s": None}}), "conflict")


# -----------------------------------------------------------------------------------
# keyword arguments
# -----------------------------------------------------------------------------------


class TestKeywords:
    @pytest.mark.parametrize("backend", BACKENDS)
    def test_keyword_and_mixed_calls(self, backend):
        g = sg.grad(lambda x, y: x * y + sg.sin(x), argnums=(0, 1), backend=backend)
        expected = g(2.0, 3.0)
        assert g(x=2.0, y=3.0) == expected == g(2.0, y=3.0) == g(y=3.0, x=2.0)
        xs = np.array([2.0, 1.0])
        np.testing.assert_allclose(g(xs, y=3.0)[0], 3.0 + np.cos(xs))

    def test_keyword_errors_name_the_arguments(self):
        g = sg.compile(lambda x, y: x * y)
        raises_symgrad(sg.InputError, lambda: g(1.0, z=2.0), "'z'", "x, y")
        raises_symgrad(sg.InputError, lambda: g(1.0, yy=2.0), "'yy'", "did you mean 'y'")
        raises_symgrad(sg.InputError, lambda: g(1.0, x=2.0), "multiple values", "'x'")
        raises_symgrad(sg.InputError, lambda: g(x=1.0), "missing", "'y'")
        raises_symgrad(sg.InputError, lambda: g(1.0, 2.0, 3.0), "2 argument", "x, y")

    def test_keywords_with_pytrees_and_compiled_expressions(self):
        params, x, y = _mlp_data()
        g = sg.grad(mlp_loss, shapes=MLP_SHAPES)
        np.testing.assert_allclose(g(y=y, x=x, params=params)["b2"], g(params, x, y)["b2"])
        a, b = sg.symbols("a b")
        assert sg.compile(a * b**2, inputs=[a, b])(b=2.0, a=3.0) == 12.0


# -----------------------------------------------------------------------------------
# jacfwd, jacrev, jit
# -----------------------------------------------------------------------------------


class TestJaxNames:
    def test_jacfwd_and_jacrev_are_the_jacobian(self):
        def f(v):
            return np.array([v[0] * v[1], sg.sin(v[1]), v[0] ** 2])

        v = np.array([0.3, -1.2])
        expected = sg.jacobian(f, shapes={"v": (2,)})(v)
        for jac in (sg.jacfwd, sg.jacrev):
            np.testing.assert_allclose(jac(f, shapes={"v": (2,)})(v), expected)
        np.testing.assert_allclose(expected, np.array([[v[1], v[0]], [0, np.cos(v[1])], [2 * v[0], 0]]))

    @pytest.mark.parametrize("backend", BACKENDS)
    def test_jit_as_call_and_decorator(self, backend):
        @sg.jit
        def f(x, y):
            """Docstring kept."""
            return x * y + 1

        @sg.jit(backend=backend, shapes={"v": (2,)})
        def norm2(v):
            return sg.sum(v**2)

        assert f(2.0, 3.0) == 7.0 and f.__name__ == "f" and f.__doc__ == "Docstring kept."
        assert isinstance(norm2, sg.Compiled) and norm2.backend == backend
        assert float(norm2(np.array([3.0, 4.0]))) == 25.0
        assert sg.jit(lambda x: 2 * x, dtype="float32")(1.5) == 3.0
        np.testing.assert_allclose(sg.grad(norm2)(np.array([3.0, 4.0])), [6.0, 8.0])

    def test_jit_refuses_unknown_options_when_decorating(self):
        raises_symgrad(sg.InputError, lambda: sg.jit(static_argnums=0), "jit()", "'static_argnums'")
        raises_symgrad(sg.InputError, lambda: sg.jit(3.0), "expected a function")


# -----------------------------------------------------------------------------------
# vmap
# -----------------------------------------------------------------------------------


class TestVmap:
    @pytest.mark.parametrize("backend", BACKENDS)
    def test_in_axes_0_none_matches_a_loop(self, backend):
        def f(v, w):
            return sg.dot(v, w) * v

        m = sg.vmap(f, in_axes=(0, None), shapes={"v": (3,), "w": (3,)}, backend=backend)
        vs, w = RNG.normal(size=(5, 3)), RNG.normal(size=3)
        np.testing.assert_allclose(m(vs, w), np.stack([np.dot(v, w) * v for v in vs]))

    def test_in_axes_1_0_and_out_axes_1(self):
        m = sg.vmap(lambda a, b: a * b, in_axes=(1, 0), out_axes=1, shapes={"a": (2,), "b": (2,)})
        a, b = RNG.normal(size=(2, 4)), RNG.normal(size=(4, 2))
        out = m(a, b)
        assert out.shape == (2, 4)
        np.testing.assert_allclose(out, np.stack([a[:, i] * b[i] for i in range(4)], axis=1))
        m0 = sg.vmap(lambda a, b: a * b, in_axes=(1, 0), shapes={"a": (2,), "b": (2,)})
        np.testing.assert_allclose(m0(a, b), out.T)

    def test_vmap_of_grad_and_of_a_pytree(self):
        g = sg.vmap(sg.grad(lambda x, y: x * y + sg.sin(x)), in_axes=(0, None))
        xs = np.linspace(-1, 1, 4)
        np.testing.assert_allclose(g(xs, 2.0), 2.0 + np.cos(xs))
        params, x, y = _mlp_data()
        per_example = sg.grad(mlp_loss, shapes={**MLP_SHAPES, "x": (1, 3), "y": (1, 1)})
        batched = sg.vmap(per_example, in_axes=(None, 0, 0))(params, x[:, None, :], y[:, None, :])
        assert batched["W1"].shape == (6, 3, 4)
        one = per_example(params, x[2:3], y[2:3])
        np.testing.assert_allclose(batched["W1"][2], one["W1"], rtol=1e-12)
        mean_grad = sg.grad(mlp_loss, shapes=MLP_SHAPES)(params, x, y)
        np.testing.assert_allclose(batched["b2"].mean(axis=0), mean_grad["b2"], rtol=1e-10)

    def test_pytree_in_axes_and_output_structures(self):
        f = sg.compile(
            lambda p: {"u": p["a"] * p["b"], "v": (p["a"], 2 * p["b"])}, shapes={"p": {"a": (2,), "b": None}}
        )
        m = sg.vmap(f, in_axes=({"a": 1, "b": 0},), out_axes={"u": 0, "v": (1, 0)})
        a, b = RNG.normal(size=(2, 3)), RNG.normal(size=3)
        out = m({"a": a, "b": b})
        np.testing.assert_allclose(out["u"], a.T * b[:, None])
        np.testing.assert_allclose(out["v"][0], a)
        np.testing.assert_allclose(out["v"][1], 2 * b)
        np.testing.assert_allclose(m(p={"a": a, "b": b})["u"], out["u"])  # keywords are bound by name

    def test_out_axes_none_gives_an_unmapped_output_once(self):
        # JAX: out_axes None for an output that depends on no mapped argument; refused for one that does
        def f(x, w):
            return x * w, {"norm": sg.sum(w**2), "w": w}

        w, xs = RNG.normal(size=2), RNG.normal(size=4)
        m = sg.vmap(f, in_axes=(0, None), out_axes=(0, {"norm": None, "w": None}), shapes={"w": (2,)})
        stacked, shared = m(xs, w)
        np.testing.assert_allclose(stacked, xs[:, None] * w)
        np.testing.assert_allclose(shared["norm"], np.dot(w, w))
        np.testing.assert_allclose(shared["w"], w)
        assert np.shape(shared["norm"]) == () and np.shape(shared["w"]) == (2,)
        # inside a trace: the shared output is the outer function's, differentiated as such
        g = sg.grad(lambda t: sg.vmap(lambda x, t: (x * t, t**3), in_axes=(0, None), out_axes=(0, None))(xs, t)[1])
        assert g(2.0) == pytest.approx(3 * 2.0**2)
        raises_symgrad(
            sg.InputError,
            lambda: sg.vmap(f, in_axes=(0, None), out_axes=None, shapes={"w": (2,)})(xs, w),
            "out_axes None",
            "output 0",
            "depends on a mapped argument",
        )

    def test_axis_size_maps_a_function_of_no_mapped_argument(self):
        # JAX: with every in_axes None, axis_size says how many times the outputs are stacked
        w = RNG.normal(size=2)
        m = sg.vmap(lambda w: (w * 2, sg.sum(w)), in_axes=None, out_axes=(1, None), axis_size=3, shapes={"w": (2,)})
        stacked, shared = m(w)
        np.testing.assert_allclose(stacked, np.stack([w * 2] * 3, axis=1))
        assert shared == pytest.approx(w.sum())
        g = sg.grad(lambda t: sg.sum(sg.vmap(lambda x: x**2, in_axes=None, axis_size=3)(t)))
        assert g(2.0) == pytest.approx(3 * 2 * 2.0)
        xs = RNG.normal(size=4)  # a mapped axis must have that size
        np.testing.assert_allclose(sg.vmap(lambda x: x * 2, axis_size=4)(xs), xs * 2)
        raises_symgrad(
            sg.InputError, lambda: sg.vmap(lambda x: x * 2, axis_size=3)(xs), "different sizes", "axis_size: 3", "x: 4"
        )
        raises_symgrad(sg.InputError, lambda: sg.vmap(lambda x: x, axis_size=-1), "axis_size", "-1")

    def test_vmap_errors(self):
        f = sg.compile(lambda x, y: x * y)
        raises_symgrad(sg.InputError, lambda: sg.vmap(f)(np.ones(3), np.ones(4)), "sizes", "x: 3", "y: 4")
        raises_symgrad(sg.InputError, lambda: sg.vmap(f, in_axes=(0, None, 0)), "3 entries", "2 argument", "x, y")
        raises_symgrad(sg.InputError, lambda: sg.vmap(f, in_axes=None), "at least one mapped")
        raises_symgrad(sg.InputError, lambda: sg.vmap(f, in_axes="0"), "in_axes")
        raises_symgrad(sg.InputError, lambda: sg.vmap(f, in_axes=({"a": 0}, 0)), "argument 'x'", "does not match")
        raises_symgrad(
            sg.ShapeError, lambda: sg.vmap(f, in_axes=(0, None))(np.ones(3), np.ones(3)), "'y'", "not mapped"
        )
        raises_symgrad(sg.ShapeError, lambda: sg.vmap(f)(np.ones((3, 2)), np.ones(3)), "'x'", "1 dimension")
        raises_symgrad(sg.AxisError, lambda: sg.vmap(f, in_axes=(2, 0))(np.ones(3), np.ones(3)), "'x'", "out of range")
        raises_symgrad(sg.AxisError, lambda: sg.vmap(f, out_axes=3)(np.ones(3), np.ones(3)), "out_axes 3")
        raises_symgrad(
            sg.InputError, lambda: sg.vmap(f, out_axes=(0, 0))(np.ones(3), np.ones(3)), "out_axes", "structure"
        )
        # traced with its per-example (scalar) arguments, a vmapped function has no axis to map
        raises_symgrad(sg.ShapeError, lambda: sg.grad(sg.vmap(f)), "'x'", "mapped over axis 0", "got shape ()")
        raises_symgrad(sg.DiffError, lambda: sg.grad(sg.vmap(f), shapes={"x": (3,), "y": (3,)}), "scalar output")

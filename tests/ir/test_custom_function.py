"""Custom differentiable functions (``sg.custom_function``, the notes' ``torch.autograd.Function``).

A function defined once by its body, with its own derivative rule in symgrad
expressions: values come from the body (numpy, C, CUDA: inlined before code
generation), derivatives of every order from the rule, checked against the
body's own derivatives and finite differences; it prints by its name.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import sympy as sp
from oracle import has_gpu

import symgrad as sg
from symgrad.api.compiled import Compiled, _SlotLayout
from symgrad.ir import custom
from symgrad.ir.evaluate import evaluate

needs_cc = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
BACKENDS = ["numpy", pytest.param("c", marks=needs_cc)]
PTS = np.array([-2.5, -0.7, 0.0, 0.4, 1.9])


@sg.custom_function
def softplus(x):
    return sg.log1p(sg.exp(x))


@softplus.defderiv
def _(x):
    return sg.sigmoid(x)


@sg.custom_function
def wave(a, b):
    """a*sin(b), with its two partials as a tuple."""
    return a * sg.sin(b)


@wave.defderiv
def _(a, b):
    return sg.sin(b), a * sg.cos(b)


@sg.custom_function
def plain(a, b):
    """No rule: the body is differentiated."""
    return a**2 * sg.exp(b)


@sg.custom_function
def myexp(x):
    return sg.exp(x)


@myexp.defderiv
def _(x):
    return myexp(x)  # the rule uses the function itself: every order is myexp(x)


def _fd(f, x, h=1e-5):
    return (f(x + h) - f(x - h)) / (2 * h)


def _values(expr, x, pts=PTS):
    return np.broadcast_to(evaluate([expr], {x: pts})[0], pts.shape)


# -- values, derivatives ------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_custom_function_value_is_its_body_on_numpy_and_c(backend):
    x = sg.symbols("x")
    f = sg.compile(softplus(x), inputs=[x], backend=backend)
    np.testing.assert_allclose(f(PTS), np.log1p(np.exp(PTS)), rtol=1e-14)
    assert f(0.5) == pytest.approx(np.log1p(np.exp(0.5)), rel=1e-14)


def test_first_derivative_is_the_rule():
    x = sg.symbols("x")
    assert sg.diff(softplus(x), x) is sg.sigmoid(x)
    assert str(sg.diff(3 * softplus(2 * x), x)) == "6*sigmoid(2*x)"


@pytest.mark.parametrize("order", [1, 2, 3])
def test_derivatives_of_every_order_come_from_the_rule_and_match_the_body(order):
    x = sg.symbols("x")
    via_rule = sg.diff(softplus(x), x, order)
    via_body = sg.diff(sg.log1p(sg.exp(x)), x, order)
    assert "softplus" not in str(via_rule)  # the rule's sigmoid, differentiated again
    np.testing.assert_allclose(_values(via_rule, x), _values(via_body, x), rtol=1e-10, atol=1e-12)
    # and against central differences of the derivative one order down
    lower = sg.compile(sg.diff(softplus(x), x, order - 1), inputs=[x])
    np.testing.assert_allclose(_values(via_rule, x), _fd(lower, PTS), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_grad_and_hessian_of_traced_functions_use_the_rule(backend):
    g = sg.grad(lambda x: softplus(x) ** 2, backend=backend)
    s = 1 / (1 + np.exp(-PTS))
    np.testing.assert_allclose(g(PTS), 2 * np.log1p(np.exp(PTS)) * s, rtol=1e-12)
    h = sg.hessian(lambda x: softplus(x), backend=backend)
    np.testing.assert_allclose(h(PTS), s * (1 - s), rtol=1e-12)
    assert sg.grad(softplus)(0.0) == pytest.approx(0.5)  # the decorated function traces like any other


def test_a_rule_written_with_the_function_itself_differentiates_to_every_order():
    x = sg.symbols("x")
    assert sg.diff(myexp(x), x) is myexp(x)
    assert sg.diff(myexp(x), x, 5) is myexp(x)
    assert sg.derivative(myexp, 4)(1.5) == pytest.approx(np.exp(1.5), rel=1e-14)


def test_without_a_rule_the_body_is_differentiated():
    a, b = sg.symbols("a b")
    g = sg.gradient(plain(a, b), [a, b])
    assert str(g[0]) == "2*a*exp(b)" and str(g[1]) == "a**2*exp(b)"
    H = sg.hessian(plain(a, b), [a, b])
    np.testing.assert_array_equal(H == sg.hessian(a**2 * sg.exp(b), [a, b]), True)


def test_several_arguments_take_their_partials_from_the_tuple():
    a, b = sg.symbols("a b")
    e = wave(a, b)
    g = sg.gradient(e, [a, b])
    assert g[0] is sg.sin(b) and g[1] is a * sg.cos(b)
    H = sg.hessian(e * a, [a, b])
    want = sg.hessian(a * sg.sin(b) * a, [a, b])
    pts = {a: np.array([0.3, -1.2]), b: np.array([0.8, 2.0])}
    np.testing.assert_allclose(
        np.array(evaluate(list(H.reshape(-1)), pts)), np.array(evaluate(list(want.reshape(-1)), pts)), rtol=1e-12
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_arrays_are_elementwise_inside_traced_functions(backend):
    v = np.array([-1.0, 0.2, 3.0])
    g = sg.grad(lambda v: sg.sum(softplus(v)), shapes={"v": (3,)}, backend=backend)
    np.testing.assert_allclose(g(v), 1 / (1 + np.exp(-v)), rtol=1e-13)
    jac = sg.jacobian(lambda a, b: wave(a, b), argnums=(0, 1), shapes={"a": (2,), "b": (2,)}, backend=backend)
    ja, jb = jac(np.array([1.0, 2.0]), np.array([0.5, -0.5]))
    np.testing.assert_allclose(ja, np.diag(np.sin([0.5, -0.5])), atol=1e-15)
    np.testing.assert_allclose(jb, np.diag([1.0, 2.0] * np.cos([0.5, -0.5])), atol=1e-15)


def test_a_function_of_several_arguments_first_called_inside_a_traced_function():
    """Its body is traced there, where ``==`` on symbols builds nodes: checking the body's symbols must not use it."""

    @sg.custom_function
    def scaled(a, b):
        return a * sg.exp(b)

    g = sg.grad(lambda a, b: scaled(a, b), argnums=(0, 1))
    ga, gb = g(2.0, 0.5)
    assert ga == pytest.approx(np.exp(0.5), rel=1e-14) and gb == pytest.approx(2.0 * np.exp(0.5), rel=1e-14)


def test_arrays_and_numbers_on_expressions():
    a = sg.symbols("a", shape=(3,))
    out = softplus(a)
    assert out.shape == (3,) and str(out[1]) == "softplus(a[1])"
    assert [str(e) for e in wave(a, 2.0)] == ["wave(a[0], 2)", "wave(a[1], 2)", "wave(a[2], 2)"]
    assert float(softplus(0.0)) == pytest.approx(np.log(2.0))  # numbers fold through the body
    np.testing.assert_allclose([float(e) for e in softplus([0.0, 1.0])], np.log1p(np.exp([0.0, 1.0])))
    assert softplus(a[0]) is softplus(a[0])  # hash-consed like every node


# -- printing, code generation ---------------------------------------------------------------------


def test_prints_by_name_in_text_latex_and_graphs():
    x, y = sg.symbols("x y")
    e = 2 * softplus(x) + wave(x, y)
    assert str(softplus(x)) == "softplus(x)"
    assert "softplus(x)" in str(e) and "wave(x, y)" in str(e)
    assert sg.latex(softplus(x)) == r"\operatorname{softplus}{\left(x \right)}"
    dot = sg.graph(e).to_dot()
    assert "softplus\\nSoftplusBackward" in dot and "wave\\nWaveBackward" in dot
    assert "log1p" not in dot


def test_sympy_round_trip_and_simplify_keep_the_function():
    x, y = sg.symbols("x y")
    e = wave(x, y) + softplus(x)
    s = sg.to_sympy(e)
    X, Y = sp.Symbol("x", real=True), sp.Symbol("y", real=True)
    assert s == sp.Function("wave", real=True)(X, Y) + sp.Function("softplus", real=True)(X)
    assert sg.from_sympy(s) is e
    assert sg.simplify(softplus(x) + softplus(x)) is 2 * softplus(x)


@pytest.mark.parametrize("backend", ["numpy", "c", "cuda"])
def test_generated_code_inlines_the_body(backend):
    x, y = sg.symbols("x y")
    compiled = sg.compile([softplus(x) * y, sg.diff(softplus(x), x)], inputs=[x, y])
    src = compiled.source_for(backend)
    assert "log1p" in src and "exp" in src
    assert "softplus" not in src and "custom" not in src


@needs_cc
def test_emulated_cuda_kernel_computes_the_body():
    from symgrad.backends import c as native
    from symgrad.codegen.csource import generate_native

    a, b = sg.symbols("a b")
    outs = [wave(a, softplus(b)), *sg.gradient(wave(a, softplus(b)), [a, b])]
    compiled = Compiled(sg.compile(outs, inputs=[a, b]).program)
    kernel = generate_native(compiled._inputs, compiled._slots, "float64", "cuda")
    run = native.EmulatedCudaKernel(kernel, grid=2, block=4)
    pts = np.random.default_rng(3).uniform(-2, 2, (2, 13))
    block = _SlotLayout(compiled._slots, None).run(run, list(pts), 13, np.dtype("float64"))
    sp_b = np.log1p(np.exp(pts[1]))
    want = [pts[0] * np.sin(sp_b), np.sin(sp_b), pts[0] * np.cos(sp_b) / (1 + np.exp(-pts[1]))]
    np.testing.assert_allclose(block, want, rtol=1e-12)


@pytest.mark.cuda
@pytest.mark.skipif(not has_gpu(), reason="needs CuPy and a CUDA GPU")
def test_cuda_backend_computes_values_and_rule_derivatives():
    g = sg.value_and_grad(lambda a, b: wave(a, softplus(b)), argnums=(0, 1), backend="cuda")
    a, b = np.array([0.5, -1.0, 2.0]), np.array([0.3, 1.1, -2.0])
    value, (ga, gb) = g(a, b)
    s = np.log1p(np.exp(b))
    np.testing.assert_allclose(value.get(), a * np.sin(s), rtol=1e-12)
    np.testing.assert_allclose(ga.get(), np.sin(s), rtol=1e-12)
    np.testing.assert_allclose(gb.get(), a * np.cos(s) / (1 + np.exp(-b)), rtol=1e-12)


def test_pickles_by_reference_so_a_dataset_function_ships_to_dask_workers():
    """A custom function pickles as a function does, by name; pi and the softmax family as themselves.

    They held their bodies' lambdas: pickling a program with softplus, sg.pi or logsumexp failed.
    """
    import pickle

    def loss(w, x):
        return softplus(w * x) + sg.pi * sg.logsumexp(sg.stack([w, x]))

    G = sg.value_and_grad(loss, data="x")
    again = pickle.loads(pickle.dumps(G))
    x = np.array([-1.0, 0.5, 2.0])
    value, grad = again(0.3, x)
    s = 1 / (1 + np.exp(-0.3 * x))
    lse = np.logaddexp(0.3, x)
    assert value == pytest.approx(np.mean(np.log1p(np.exp(0.3 * x)) + np.pi * lse), rel=1e-14)
    assert grad == pytest.approx(np.mean(x * s + np.pi * np.exp(0.3 - lse)), rel=1e-14)
    a = sg.symbols("a")
    assert pickle.loads(pickle.dumps(softplus(a) * sg.pi)) is softplus(a) * sg.pi  # the very nodes


def test_reference_interpreter_evaluates_the_body():
    x = sg.symbols("x")
    np.testing.assert_allclose(evaluate([softplus(x)], {x: PTS})[0], np.log1p(np.exp(PTS)), rtol=1e-15)


# -- verify=True and errors -------------------------------------------------------------------------


@pytest.fixture
def wrong_rule_marks():
    """A wrong rule's derivative marks its result nodes (shared: badplus's exp(x) is every exp(x)); forget them after.

    Left behind, the mark made verify=True of a later, unrelated test's exp(x)*pi check badplus, as long as
    the node happened to live (in CI, after these tests, depending on garbage collection).
    """
    yield
    custom._DERIVED.clear()


def _wrong():
    @sg.custom_function
    def badplus(x):
        return sg.log1p(sg.exp(x))

    @badplus.defderiv
    def _(x):
        return sg.exp(x)  # not the derivative of the body

    return badplus


def test_verify_reports_a_rule_that_disagrees_with_the_body(wrong_rule_marks):
    badplus = _wrong()
    with pytest.raises(sg.VerificationError, match="badplus"):
        sg.grad(lambda x: 3 * badplus(x), verify=True)
    with pytest.raises(sg.VerificationError, match="rule of the custom function badplus"):
        sg.hessian(lambda x: badplus(x), verify=True)
    x = sg.symbols("x")
    with pytest.raises(sg.VerificationError, match="badplus"):
        sg.compile(sg.diff(badplus(x) ** 2, x), inputs=[x], verify=True)
    g = sg.grad(badplus, verify=False)  # unverified, the rule is the user's word
    assert g(0.0) == pytest.approx(1.0)


def test_verify_finds_a_wrong_rule_inside_another_custom_function(wrong_rule_marks):
    badplus = _wrong()

    @sg.custom_function
    def outer(x):
        return 2 * badplus(x)

    with pytest.raises(sg.VerificationError, match="badplus"):
        sg.grad(outer, verify=True)


def test_verify_reports_a_wrong_rule_whose_derivative_is_a_bare_symbol_or_number():
    """d/dx of x**2 by the rule ``x`` is the symbol x, by the rule ``1`` of 3*x the number 1: leaves carry no mark."""

    @sg.custom_function
    def halfsq(x):
        return x**2

    @halfsq.defderiv
    def _(x):
        return x  # the body's is 2*x

    @sg.custom_function
    def third(x):
        return 3 * x

    @third.defderiv
    def _(x):
        return 1.0  # the body's is 3

    for build in (
        lambda: sg.grad(halfsq, verify=True),
        lambda: sg.hessian(halfsq, verify=True),
        lambda: sg.grad(third, verify=True),
        lambda: sg.jacobian(lambda v: third(v), shapes={"v": (2,)}, verify=True),
        lambda: sg.grad(sg.compile(third), verify=True),
    ):
        with pytest.raises(sg.VerificationError, match="halfsq|third"):
            build()
    assert sg.grad(third, verify=False)(2.0) == 1.0  # unverified, the rule is the user's word


def test_a_correct_rule_passes_verify():
    g = sg.grad(lambda a, b: wave(a, b) * softplus(b), argnums=(0, 1), verify=True)
    ga, gb = g(0.7, -0.3)
    s = np.log1p(np.exp(-0.3))
    assert ga == pytest.approx(np.sin(-0.3) * s)
    assert gb == pytest.approx(0.7 * np.cos(-0.3) * s + 0.7 * np.sin(-0.3) / (1 + np.exp(0.3)))


def test_verify_allows_for_the_rounding_of_a_body_far_larger_than_its_slope(wrong_rule_marks):
    """Central differences of 1e9 + x**2 are off by ~0.05 from rounding alone: a right rule is no disagreement."""

    @sg.custom_function
    def offset(x):
        return 1e9 + x**2

    @offset.defderiv
    def _(x):
        return 2 * x

    assert sg.grad(offset, verify=True)(1.5) == 3.0

    @sg.custom_function
    def offset_wrong(x):
        return 1e9 + x**2

    @offset_wrong.defderiv
    def _(x):
        return 2 * x + 50  # far beyond the rounding: still caught

    with pytest.raises(sg.VerificationError, match="offset_wrong"):
        sg.grad(offset_wrong, verify=True)


def test_verify_checks_a_rule_inside_a_body_domain_away_from_the_usual_points(wrong_rule_marks):
    """log(x - 5) is nan at every point of [-2, 3]: verify compared nothing there and passed a wrong rule."""

    def shifted_log(rule):
        @sg.custom_function
        def shifted_log(x):
            return sg.log(x - 5)

        shifted_log.defderiv(rule)
        return shifted_log

    with pytest.raises(sg.VerificationError, match="shifted_log"):
        sg.grad(shifted_log(lambda x: 2 / (x - 5)), verify=True)  # the body's is 1/(x - 5)
    assert sg.grad(shifted_log(lambda x: 1 / (x - 5)), verify=True)(7.0) == pytest.approx(0.5)


def test_bad_definitions_and_calls_are_symgrad_errors_naming_the_function():
    y = sg.symbols("y")

    @sg.custom_function
    def leaky(x):
        return x * y

    with pytest.raises(sg.InputError, match="leaky uses the symbol.*y"):
        leaky(1.5 * y)

    @sg.custom_function
    def pair(a, b):
        return a * b

    @pair.defderiv
    def _(a, b):
        return b  # one partial for two arguments

    with pytest.raises(sg.InputError, match="rule of pair returns one value"):
        sg.diff(pair(y, y**2), y)
    with pytest.raises(sg.InputError, match="pair\\(\\)"):
        pair(1.0, 2.0, 3.0)
    with pytest.raises(sg.InputError, match="argument 'b'"):
        pair(1.0, b="z")
    with pytest.raises(sg.ShapeError, match="pair"):
        pair([1.0, 2.0], [1.0, 2.0, 3.0])
    assert float(pair(b=2.0, a=3.0)) == 6.0  # keywords bind as in Python
    with pytest.raises(sg.InputError, match="plain positional"):
        sg.custom_function(lambda *xs: xs[0], name="varargs")
    with pytest.raises(sg.InputError, match="identifier"):
        sg.custom_function(lambda x: x)
    with pytest.raises(sg.InputError, match="same 2 argument"):
        pair.defderiv(lambda a: a)


def test_verify_checks_the_rule_behind_a_derivative_used_inside_a_larger_expression(wrong_rule_marks):
    """The derivative d of badplus, built with its wrong rule, is checked where it is a part of what is compiled too."""
    badplus = _wrong()
    x = sg.symbols("x")
    d = sg.diff(badplus(x), x)
    with pytest.raises(sg.VerificationError, match="badplus"):
        sg.compile(2 * d + 1, inputs=[x], verify=True)

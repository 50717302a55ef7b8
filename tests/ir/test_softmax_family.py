"""softmax, log_softmax and logsumexp print as themselves; the code keeps the stable max-shifted form.

Each is a named node (:mod:`symgrad.ir.softmax`): ``str``, LaTeX, ``sg.simplify``,
the CLI, check reports and graph pictures show ``softmax(z)[0]`` and
``logsumexp(x, y, w)``, never the stabiliser chain (``stop_gradient``,
``maximum``); derivatives come out as ``softmax_i (delta_ij - softmax_j)``.
Values and derivatives are checked against numpy's explicit formulas, at
logits large enough to overflow a naive ``exp``, on numpy and C.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import warnings

import numpy as np
import pytest
import sympy as sp

import symgrad as sg
from symgrad.cli import main as cli
from symgrad.ir.node import toposort
from symgrad.ir.softmax import kind_of

needs_cc = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
BACKENDS = ["numpy", pytest.param("c", marks=needs_cc)]
Z = sg.symbols("z", shape=(3,))
X, Y, W = sg.symbols("x y w")
STABILISER = ("stop_gradient", "maximum")


def np_softmax(z, axis=-1):
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_logsumexp(z, axis=-1):
    m = np.max(z, axis=axis, keepdims=True)
    return (np.log(np.exp(z - m).sum(axis=axis, keepdims=True)) + m).squeeze(axis)


def readable(text: str, written_out: bool = False) -> bool:
    """No stabiliser chain in the text (and, unless ``written_out`` is allowed, no exp at all)."""
    return not any(s in text for s in STABILISER) and (written_out or "exp(" not in text)


# -- printing ---------------------------------------------------------------------------------------


def test_they_print_as_themselves():
    assert [str(s) for s in sg.softmax(Z)] == ["softmax(z)[0]", "softmax(z)[1]", "softmax(z)[2]"]
    assert str(sg.log_softmax(Z)[2]) == "log_softmax(z)[2]"
    assert str(sg.logsumexp(Z)) == "logsumexp(z)"
    assert str(sg.logsumexp([X, Y, W])) == "logsumexp(x, y, w)"
    assert str(sg.softmax([X, Y, W])[1]) == "softmax(x, y, w)[1]"


def test_rows_of_a_matrix_print_by_row():
    m = sg.symbols("m", shape=(2, 3))
    assert str(sg.softmax(m)[1, 2]) == "softmax(m[1])[2]"
    assert str(sg.logsumexp(m, axis=1)[0]) == "logsumexp(m[0])"
    # along axis 0 the values are not one row in order: they are listed
    assert str(sg.softmax(m, axis=0)[1, 0]) == "softmax(m[0, 0], m[1, 0])[1]"


def test_a_prefix_of_the_elements_is_not_abbreviated_wrongly():
    assert str(sg.softmax(Z[1:])[0]) == "softmax(z[1], z[2])[0]"
    assert str(sg.logsumexp(Z[::-1])) == "logsumexp(z[2], z[1], z[0])"


def test_derivatives_in_textbook_form():
    s = sg.softmax(Z)
    grad = sg.gradient(s[0], list(Z))
    assert [str(g) for g in grad[1:]] == ["-softmax(z)[0]*softmax(z)[1]", "-softmax(z)[0]*softmax(z)[2]"]
    assert str(grad[0]) == "-softmax(z)[0]**2 + softmax(z)[0]"  # s_0 (1 - s_0), in sympy's term order
    assert [str(g) for g in sg.gradient(sg.logsumexp(Z), list(Z))] == [str(v) for v in s]
    onehot = np.array([1.0, 0.0, 0.0])
    loss = -sg.sum(onehot * sg.log_softmax(Z))
    assert [str(g) for g in sg.gradient(loss, list(Z))] == ["softmax(z)[0] - 1", "softmax(z)[1]", "softmax(z)[2]"]


def test_symbolic_labels_give_softmax_times_their_sum_minus_the_label():
    labels = sg.symbols("Y", shape=(3,))
    loss = -sg.sum(labels * sg.log_softmax(Z))
    grad = sg.gradient(loss, list(Z))
    for j, g in enumerate(grad):
        text = str(g)
        assert readable(text) and f"softmax(z)[{j}]" in text and f"Y[{j}]" in text
    rng = np.random.default_rng(3)
    for _ in range(5):
        z, y = rng.normal(size=3), rng.random(3)
        env = {**dict(zip(Z, z)), **dict(zip(labels, y))}
        got = [sg.lambdify(list(env), g)(*env.values()) for g in grad]
        np.testing.assert_allclose(got, np_softmax(z) * y.sum() - y, rtol=1e-12, atol=1e-14)


def test_log_of_softmax_is_log_softmax_and_back():
    s, ls = sg.softmax(Z), sg.log_softmax(Z)
    assert sg.log(s[1]) is ls[1]
    assert sg.exp(ls[2]) is s[2]
    assert str(-sg.sum(np.array([0.0, 1.0, 0.0]) * sg.log(s))) == "-log_softmax(z)[1]"


def test_latex_names_them():
    assert sg.latex(sg.softmax(Z)[0]) == r"\operatorname{softmax}\left(z\right)_{0}"
    assert sg.latex(sg.log_softmax(Z)[1]) == r"\operatorname{log\_softmax}\left(z\right)_{1}"
    assert sg.latex(sg.logsumexp([X, Y])) == r"\operatorname{logsumexp}\left(x, y\right)"
    assert "softmax" in sg.latex(sg.gradient(sg.logsumexp(Z), list(Z)))


def test_simplify_keeps_the_names():
    s = sg.softmax([X, Y])
    assert sg.simplify(2 * s[0] - s[0]) is s[0]
    out = sg.simplify(sg.gradient(s[0], [X, Y]))
    assert all(readable(str(v)) and "softmax(x, y)" in str(v) for v in out)


def test_to_sympy_gives_the_math_sympy_can_work_with():
    s0 = sg.to_sympy(sg.softmax(Z)[0])
    z = [sp.Symbol(f"z[{i}]", real=True) for i in range(3)]
    assert sp.simplify(s0 - sp.exp(z[0]) / sum(sp.exp(v) for v in z)) == 0
    assert sp.simplify(sg.to_sympy(sg.logsumexp(Z)) - sp.log(sum(sp.exp(v) for v in z))) == 0
    assert sp.simplify(sg.to_sympy(sg.log_softmax(Z)[1]) - (z[1] - sp.log(sum(sp.exp(v) for v in z)))) == 0


def test_the_named_sympy_functions_differentiate_and_come_back():
    from symgrad.sympy_bridge import _LogSoftmax, _LogSumExp, _Softmax

    x, y = sp.symbols("x y", real=True)
    lse = _LogSumExp(x, y)
    assert sp.simplify(sp.diff(lse, x).rewrite(sp.exp) - sp.exp(x) / (sp.exp(x) + sp.exp(y))) == 0
    s0 = _Softmax(sp.Integer(0), x, y)
    assert sp.simplify((sp.diff(s0, x) - s0 * (1 - s0)).rewrite(sp.exp)) == 0
    assert (
        sp.simplify(
            sp.diff(_LogSoftmax(sp.Integer(1), x, y), y).rewrite(sp.exp) - (1 - sp.exp(y) / (sp.exp(x) + sp.exp(y)))
        )
        == 0
    )
    assert float(sp.N(s0.subs({x: 1, y: 0}))) == pytest.approx(np_softmax(np.array([1.0, 0.0]))[0], rel=1e-15)
    assert sg.from_sympy(s0) is sg.softmax([X, Y])[0]
    assert sg.from_sympy(lse) is sg.logsumexp([X, Y])


def test_check_reports_and_the_cli_are_readable():
    report = sg.check(sg.softmax(Z)[0], "1", wrt=Z[0])
    assert not report.ok and report.verdict == "wrong" and readable(str(report), written_out=True)
    assert "correct df/dz[0] = -softmax(z)[0]**2 + softmax(z)[0]" in str(report)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["jacobian", "softmax([x, y])", "--wrt", "x,y"])
    assert code == 0 and readable(out.getvalue()) and "softmax(x, y)[0]" in out.getvalue()


def test_graph_pictures_show_the_named_nodes():
    onehot = np.array([1.0, 0.0, 0.0])
    dot = sg.graph(lambda z: -sg.sum(onehot * sg.log_softmax(z)), shapes={"z": (3,)}, grad=True).to_dot()
    assert "log_softmax[0]" in dot and "logsumexp" in dot and "softmax[1]" in dot
    assert "maximum" not in dot and "stop_gradient" not in dot
    autograd = sg.graph(
        lambda z: -sg.sum(onehot * sg.log_softmax(z)), shapes={"z": (3,)}, grad=True, style="autograd"
    ).to_dot()
    assert "LogSoftmaxBackward0" in autograd and "LogsumexpBackward0" in autograd


# -- values and derivatives ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scale", [1.0, 30.0, 1000.0, 1e8])
def test_values_are_stable_at_any_scale(backend, scale):
    rng = np.random.default_rng(int(scale) % 97)
    z = rng.normal(size=(50, 3)) * scale
    z[0] = [scale, 0.0, -scale]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning from a naive exp
        s = sg.compile(sg.softmax, shapes={"x": (3,)}, backend=backend)(z)
        ls = sg.compile(sg.log_softmax, shapes={"x": (3,)}, backend=backend)(z)
        lse = sg.compile(sg.logsumexp, shapes={"x": (3,)}, backend=backend)(z)
    np.testing.assert_allclose(s, np_softmax(z), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(lse, np_logsumexp(z), rtol=1e-14)
    np.testing.assert_allclose(ls, z - np_logsumexp(z)[:, None], rtol=1e-12, atol=1e-12 * scale)


@pytest.mark.parametrize("backend", BACKENDS)
def test_jacobian_and_hessian_against_the_formulas(backend):
    rng = np.random.default_rng(7)
    pts = rng.normal(size=(20, 4)) * 3
    pts[0] = [800.0, 799.0, -5.0, 0.0]
    jac = sg.jacobian(sg.softmax, shapes={"x": (4,)}, backend=backend)(pts)
    hess = sg.hessian(sg.logsumexp, shapes={"x": (4,)}, backend=backend)(pts)
    for k in range(pts.shape[0]):
        s = np_softmax(pts[k])
        expected = np.diag(s) - np.outer(s, s)
        np.testing.assert_allclose(jac[k], expected, rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(hess[k], expected, rtol=1e-10, atol=1e-15)
    lsm = sg.jacobian(sg.log_softmax, shapes={"x": (4,)}, backend=backend)(pts)
    for k in range(pts.shape[0]):
        np.testing.assert_allclose(lsm[k], np.eye(4) - np_softmax(pts[k])[None, :], rtol=1e-10, atol=1e-15)


def test_third_derivative_against_finite_differences():
    lse = sg.logsumexp([X, Y])
    d3 = sg.diff(lse, X, 3)
    assert readable(str(d3))
    g2 = sg.lambdify([X, Y], sg.diff(lse, X, 2))
    d3f = sg.lambdify([X, Y], d3)
    for x0, y0 in [(0.3, -0.2), (-2.0, 1.5), (400.0, 401.0)]:
        h = 1e-5
        fd = (g2(x0 + h, y0) - g2(x0 - h, y0)) / (2 * h)
        assert d3f(x0, y0) == pytest.approx(fd, rel=1e-5, abs=1e-9)


def test_float32_and_numbers():
    z = np.array([[3.0, 1.0, -2.0], [90.0, 89.0, 0.0]], dtype=np.float32)
    out = sg.compile(sg.softmax, shapes={"x": (3,)}, dtype="float32")(z)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np_softmax(z.astype(float)), rtol=1e-6, atol=1e-30)
    # numbers in, numbers out: the functions fold
    assert np.allclose(
        np.asarray(sg.softmax(np.array([2.0, 1.0, 0.1])), dtype=float), np_softmax(np.array([2.0, 1.0, 0.1]))
    )
    assert float(sg.logsumexp([1000.0, 1000.0])) == pytest.approx(1000.0 + np.log(2.0), rel=1e-15)
    assert float(sg.logsumexp([])) == -np.inf
    assert sg.logsumexp([X]) is X and float(sg.softmax([X])[0]) == 1.0


def test_substitution_keeps_the_names_and_folds_numbers():
    s0 = sg.softmax(Z)[0]
    q = sg.symbols("q")
    assert str(s0.subs(Z[0], 2 * q)) == "softmax(2*q, z[1], z[2])[0]"
    value = s0.subs({Z[0]: 2.0, Z[1]: 1.0, Z[2]: 0.1})
    assert float(value) == pytest.approx(np_softmax(np.array([2.0, 1.0, 0.1]))[0], rel=1e-15)


def test_size_is_linear_in_the_number_of_values():
    """n values give O(n) nodes for softmax and its gradient: each element reads one shared logsumexp node."""
    sizes = []
    for n in (100, 400):
        z = sg.symbols("v", shape=(n,))
        s = sg.softmax(z)
        loss = -sg.sum(np.eye(n)[0] * sg.log(s))
        grad = sg.gradient(loss, list(z))
        sizes.append(len(toposort([*s, *grad])))
        assert sum(len(node.args) for node in toposort(list(s))) < 5 * n
    assert sizes[1] < 4.5 * sizes[0]


def test_the_family_is_recognisable():
    assert kind_of(sg.softmax(Z)[0]) == "softmax"
    assert kind_of(sg.log_softmax(Z)[0]) == "log_softmax"
    assert kind_of(sg.logsumexp(Z)) == "logsumexp"
    assert kind_of(Z[0]) is None

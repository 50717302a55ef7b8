"""What a sympy user types first, checked against sympy itself.

``e.subs``, ``e.diff``, ``e.free_symbols``, ``sg.pi``/``sg.E``, ``sg.symbols``'
range syntax and assumption keywords, ``sg.lambdify`` and ``sg.diff`` (and
gradient, hessian, jacobian) of formula strings; every misuse is a symgrad error
naming what was wrong.
"""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import sympy as sp

import symgrad as sg
from symgrad.ir.array import SymbolicArray

needs_cc = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
BACKENDS = ["numpy", pytest.param("c", marks=needs_cc)]

x, y, z = sg.symbols("x y z")
X, Y, Z = (sp.Symbol(n, real=True) for n in "xyz")
E1 = x**2 * y + sg.sin(x) * z
S1 = X**2 * Y + sp.sin(X) * Z


def same(e, s) -> bool:
    """Whether a symgrad expression equals a sympy one: sympy's difference is 0 at random points.

    symgrad folds functions of numbers to floats (``sin(3) -> 0.1411...``) where sympy keeps
    them exact, so the difference is compared numerically.
    """
    d = sg.to_sympy(e) - s
    rng = np.random.default_rng(0)
    for _ in range(4):
        at = {v: sp.Float(rng.uniform(-2, 2)) for v in d.free_symbols}
        if abs(complex(d.subs(at).evalf())) > 1e-9:
            return False
    return True


# -- subs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        lambda a, b, c: ({a: 2},),
        lambda a, b, c: (a, 2),
        lambda a, b, c: ([(a, 1), (b, 2)],),
        lambda a, b, c: ({a: b + 1, c: a},),  # sympy's order for a dict: sorted, then one after another
        lambda a, b, c: ([(a, b), (b, 2)],),  # one after another: a -> b -> 2
        lambda a, b, c: ([(b, 2), (a, b)],),
        lambda a, b, c: ({a: c, c: 3},),
        lambda a, b, c: ({a: c**2},),
    ],
)
def test_subs_follows_sympy(args):
    got = E1.subs(*args(x, y, z))
    want = S1.subs(*args(X, Y, Z))
    assert same(got, want), (got, want)


def test_subs_forms_values_and_arrays():
    assert E1.subs({x: 2, y: 3, z: 0}) == 12  # a constant node, equal to the number
    assert float(E1.subs({x: 2.0, y: 0.5, z: 1})) == pytest.approx(2 + math.sin(2))
    assert (x + y).subs([(x, y), (y, 2)]) == 4 and str((x + y).subs([(y, 2), (x, y)])) == "y + 2"
    assert str((x + y).subs({x: y, y: x}, simultaneous=True)) == "x + y"
    assert (x**2 + 1).subs(x**2, z) is z + 1  # a subexpression as the key, matched structurally
    assert (x * y).subs("x", 3) is 3 * y  # a name stands for its symbol
    a = sg.symbols("a", shape=(2,))
    e = a[0] * a[1] + x
    assert e.subs(a, [2.0, 3.0]) is x + 6
    M = np.array([x * y, x + z], dtype=object).view(SymbolicArray)  # what every symgrad array is
    assert [str(v) for v in M.subs(x, 2)] == ["2*y", "z + 2"]
    assert [str(v) for v in sg.exp(a).subs({a[1]: 0})] == ["exp(a[0])", "1"]


def test_subs_errors_name_the_problem():
    with pytest.raises(sg.InputError, match="subs takes"):
        x.subs(x)
    with pytest.raises(sg.InputError, match="value for x"):
        x.subs(x, "y")
    with pytest.raises(sg.ShapeError, match="x is a scalar"):
        x.subs(x, [1.0, 2.0])
    with pytest.raises(sg.InputError, match="unknown keyword 'exact'"):
        x.subs(x, 1, exact=True)
    with pytest.raises(sg.ShapeError):
        sg.symbols("b", shape=(2,))[0].subs(sg.symbols("b", shape=(2,)), [1.0, 2.0, 3.0])


# -- diff, free_symbols -------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [("x",), ("x", 2), ("x", "y"), ("x", "x", "z"), ("z", 3), ()])
def test_diff_method_follows_sympy(spec):
    e, s = (E1, S1) if spec else (x**3 * sg.sin(x), X**3 * sp.sin(X))  # no variable: the one free symbol
    ours = [{"x": x, "y": y, "z": z}.get(v, v) for v in spec]
    theirs = [{"x": X, "y": Y, "z": Z}.get(v, v) for v in spec]
    assert same(e.diff(*ours), s.diff(*theirs))
    assert e.diff(*ours) is sg.diff(e, *ours)


def test_free_symbols_is_a_set_as_in_sympy():
    assert E1.free_symbols == {x, y, z}
    assert (x + 1).free_symbols == {x} and sg.exp(sg.symbols("a", shape=(2,))).free_symbols == set(
        sg.symbols("a", shape=(2,))
    )
    assert {s.name for s in (x * y).free_symbols} == {s.name for s in (X * Y).free_symbols}


# -- pi and E ----------------------------------------------------------------------------------------------


def test_pi_and_e_are_named_constants():
    assert str(2 * sg.pi * x) == "2*pi*x" and str(sg.E**x) == "E**x"
    assert float(sg.pi) == math.pi and float(sg.E) == math.e and math.cos(sg.pi) == -1.0
    assert sg.to_sympy(2 * sg.pi * x) == 2 * sp.pi * X and sg.to_sympy(sg.E) == sp.E
    assert sg.latex(sg.pi * x) == r"\pi x"
    assert float(sg.sin(sg.pi / 2)) == 1.0  # functions of numbers fold, as numpy computes them
    assert bool(sg.pi > 3) and sg.pi == sg.pi and sg.pi != math.pi  # structurally a name, as in sympy
    assert same(sg.diff(sg.sin(sg.pi * x) * sg.E**x, x), sp.diff(sp.sin(sp.pi * X) * sp.E**X, X))


@pytest.mark.parametrize("backend", BACKENDS)
def test_pi_and_e_compile_and_trace(backend):
    f = sg.compile(sg.sin(sg.pi * x) + sg.E, inputs=[x], backend=backend)
    np.testing.assert_allclose(f(np.array([0.25, 0.5])), np.sin(np.pi * np.array([0.25, 0.5])) + np.e, rtol=1e-15)
    g = sg.grad(lambda t: sg.cos(sg.pi * t) * sg.E, backend=backend)
    assert g(0.5) == pytest.approx(-math.pi * math.e, rel=1e-14)


# -- symbols ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec", ["x:3", "x0:2 y", "a:c", "x1:4", "x(1:3)", "x:2(a:c)", "x:3,y", "x,y:2", "a:c,d", "x,", "x y", "x"]
)
def test_symbols_range_syntax_follows_sympy(spec):
    ours, theirs = sg.symbols(spec), sp.symbols(spec)
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and [s.name for s in ours] == [str(s) for s in theirs]
    else:
        assert ours.name == str(theirs)


def test_symbols_ranges_are_bounded_and_checked():
    assert sg.symbols("x:0") == () == sp.symbols("x:0")
    assert sg.symbols("x:2", shape=(3,))[1].shape == (3,)
    with pytest.raises(sg.InputError, match="1,000,000"):
        sg.symbols("x:100000000")
    with pytest.raises(sg.SymbolNameError, match="no end"):
        sg.symbols("x:")
    with pytest.raises(sg.SymbolNameError, match="identifiers"):
        sg.symbols(":3")


def test_symbols_assumption_keywords():
    assert sg.symbols("z", real=True) is z  # every symbol is real
    with pytest.raises(sg.InputError, match="positive=True"):
        sg.symbols("z", positive=True)
    with pytest.raises(sg.InputError, match="integer=True"):
        sg.symbols("n", integer=True)
    with pytest.raises(sg.InputError, match="real=False"):
        sg.symbols("z", real=False)
    with pytest.raises(sg.InputError, match="'shpae'.*did you mean 'shape'"):
        sg.symbols("z", shpae=(2,))


# -- lambdify ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_lambdify_matches_sympys(backend):
    pts = (np.array([0.3, -1.2, 2.0]), np.array([1.5, 0.25, -0.5]))
    ours = sg.lambdify([x, y], E1.subs(z, 2), backend=backend)
    theirs = sp.lambdify([X, Y], S1.subs(Z, 2), modules="numpy")
    np.testing.assert_allclose(ours(*pts), theirs(*pts), rtol=1e-14)
    single = sg.lambdify(x, sg.exp(x) * sg.pi, "numpy", backend=backend)
    assert single(1.0) == pytest.approx(sp.lambdify(X, sp.exp(X) * sp.pi)(1.0), rel=1e-15)
    several = sg.lambdify((x, y), [x * y, x + y], modules=["numpy"], backend=backend)
    assert several(2.0, 3.0) == (6.0, 5.0)
    strings = sg.lambdify("x y", "x*y + sin(x)", backend=backend)
    assert strings(1.0, 2.0) == pytest.approx(2 + math.sin(1.0), rel=1e-15)


def test_lambdify_refuses_other_modules_and_misspelt_options():
    with pytest.raises(sg.InputError, match="modules='jax'"):
        sg.lambdify(x, x**2, modules="jax")
    with pytest.raises(sg.InputError, match="modules=.'sin'"):  # sympy's dict of implementations: a TypeError
        sg.lambdify(x, x**2, modules=[{"sin": np.sin}, "numpy"])
    with pytest.raises(sg.InputError, match="printer"):
        sg.lambdify(x, x**2, printer=object())
    with pytest.raises(sg.InputError, match="'modlues'"):
        sg.lambdify(x, x**2, modlues="numpy")
    with pytest.raises(sg.InputError, match="args"):
        sg.lambdify(3, x**2)


# -- formula strings ---------------------------------------------------------------------------------------------


def test_diff_of_formula_strings():
    assert sg.diff("x**2", "x") is 2 * x
    assert sg.diff("x**3", "x", 2) is 6 * x
    assert same(sg.diff("sin(x)*y**2", "x", "y"), sp.diff(sp.sin(X) * Y**2, X, Y))
    assert sg.diff("exp(x)") is sg.exp(x)  # one free symbol: no variable needed, as in sympy
    assert same(sg.diff(x**2 * y, "y"), X**2)
    a = sg.symbols("a", shape=(2,))
    assert [str(v) for v in sg.diff("sum(a**2)", a)] == ["2*a[0]", "2*a[1]"]  # shapes come from the variable


def test_gradient_hessian_jacobian_of_formula_strings():
    g = sg.gradient("x**2*y", "x y")
    assert [str(v) for v in g] == ["2*x*y", "x**2"]
    H = sg.hessian("x**2*y", ["x", "y"])
    assert H.shape == (2, 2) and str(H[0, 1]) == "2*x" and H[1, 1] == 0
    J = sg.jacobian("[x*y, sin(x)]", "x, y")
    assert J.shape == (2, 2) and str(J[1, 0]) == "cos(x)"
    assert [str(v) for v in sg.gradient("x0*x1*x2", "x:3")] == ["x1*x2", "x0*x2", "x0*x1"]


def test_a_variable_named_like_a_constant_is_that_symbol_in_the_formula():
    """e and pi are the constants in a formula, unless they are the variables: then sympy's symbols e and pi."""
    e, pi = sg.symbols("e pi")
    E_, PI_ = sp.Symbol("e", real=True), sp.Symbol("pi", real=True)
    assert same(sg.diff("e*x", "e"), sp.diff(E_ * X, E_))
    assert same(sg.diff("e**3", e, 2), sp.diff(E_**3, E_, 2))
    assert [same(g, s) for g, s in zip(sg.gradient("pi*x**2", "pi x"), [X**2, 2 * PI_ * X])] == [True, True]
    assert same(sg.hessian("e**2*pi", [e, pi])[0, 1], 2 * E_)
    assert sg.lambdify(["e"], "e*2")(3.0) == 6.0
    assert sg.lambdify(["x"], "e*x")(1.0) == math.e  # not a variable: the constant


def test_formula_strings_are_never_evaluated():
    with pytest.raises(sg.FormulaError):
        sg.diff("__import__('os').system('true')", "x")
    with pytest.raises(sg.FormulaError):
        sg.lambdify("x", "x.__class__")
    with pytest.raises(sg.DiffError, match="not a symbol name"):
        sg.diff("x**2", "x + 1")


# -- errors -------------------------------------------------------------------------------------------------------


def test_array_methods_on_a_scalar_name_the_argument():
    with pytest.raises(sg.ArrayMethodError, match=r"\.sum\(\): v is a scalar symbol.*shapes=\{'v': \(3,\)\}"):
        sg.grad(lambda v: v.sum())
    with pytest.raises(sg.TraceError, match=r"\.shape"):
        sg.compile(lambda v: v.shape[0] * v)
    assert not hasattr(x, "reshape") and getattr(x, "T", None) is None  # still an AttributeError to probes
    assert float(sg.grad(lambda v: v.sum(), shapes={"v": (2,)})(np.ones(2))[0]) == 1.0


def test_misspelt_keywords_are_refused_by_name():
    with pytest.raises(sg.InputError, match="'wrt'"):
        sg.diff(x**2, wrt=x)
    with pytest.raises(sg.InputError, match="evaluate=False"):
        sg.diff(x**2, x, evaluate=False)
    with pytest.raises(sg.InputError, match="'backedn'"):
        sg.jacobian([x * y], [x], backedn="c")
    with pytest.raises(sg.InputError, match="'dtpye'"):
        sg.hessian(x * y, [x, y], dtpye="float32")
    assert sg.diff(x**2, x, evaluate=True) is 2 * x

"""The formula parser: every construct it accepts, every one it refuses (token and column), hostile input.

Parsed values are checked numerically against oracles that do not share
symgrad's code: sympy for hand-written cases, and a tiny independent
evaluator over randomly generated formula trees for the fuzz test.  The
default run draws a few hundred examples; set SYMGRAD_FUZZ_EXAMPLES for more.
"""

from __future__ import annotations

import math
import os
import sys
import time

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symgrad as sg
from symgrad.errors import FormulaError, SymgradError
from symgrad.formula import MAX_LENGTH, Formula, parse
from symgrad.ir.evaluate import evaluate

EXAMPLES = int(os.environ.get("SYMGRAD_FUZZ_EXAMPLES", "200"))
POINT = {"x": 0.7, "y": -1.3, "z": 2.1}

# -- an audit hook that records dangerous events while a parse runs ---------------------------------

_EVENTS: list[str] = []
_WATCHING = [False]
_DANGEROUS = ("exec", "os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "import", "open")


def _audit(event: str, args) -> None:
    if _WATCHING[0] and event.startswith(_DANGEROUS):
        _EVENTS.append(event)


sys.addaudithook(_audit)


def watched_parse(text: str, shapes=None):
    """parse(), recording any exec/system/import/open event it causes."""
    _EVENTS.clear()
    _WATCHING[0] = True
    try:
        return parse(text, shapes)
    finally:
        _WATCHING[0] = False


def numeric(value, point):
    """Evaluate a parsed value (node or array) with symgrad's reference interpreter."""
    arr = np.asarray(value, dtype=object)
    syms = {s for v in arr.reshape(-1) for s in sg.ir.free_symbols([v])}
    values = {s: point[s.name] for s in syms}
    return np.array([float(r) for r in evaluate(list(arr.reshape(-1)), values)]).reshape(arr.shape)


def sympy_value(text: str, point):
    """sympy's evaluation of a formula written with sympy's own constructors (no parsing of the string)."""
    x, y, z = sympy.symbols("x y z", real=True)
    env = {"x": x, "y": y, "z": z}
    return float(text(env, sympy).subs({env[k]: v for k, v in point.items()}).evalf())


# -- accepted constructs ---------------------------------------------------------------------------

ACCEPTED = [
    ("3*x**2 - sin(y)", lambda e, s: 3 * e["x"] ** 2 - s.sin(e["y"])),
    ("x/y + 2.5", lambda e, s: e["x"] / e["y"] + s.Rational(5, 2)),
    ("-x + +y", lambda e, s: -e["x"] + e["y"]),
    ("x**-1", lambda e, s: 1 / e["x"]),
    ("2**x", lambda e, s: 2 ** e["x"]),
    ("pi*e*x", lambda e, s: s.pi * s.E * e["x"]),
    (
        "exp(x) + expm1(y) + log1p(z) + ln(z)",
        lambda e, s: s.exp(e["x"]) + s.exp(e["y"]) - 1 + s.log(1 + e["z"]) + s.log(e["z"]),
    ),
    (
        "log2(z) + log10(z) + sqrt(z) + square(y)",
        lambda e, s: s.log(e["z"], 2) + s.log(e["z"], 10) + s.sqrt(e["z"]) + e["y"] ** 2,
    ),
    (
        "asin(x) + acos(x) + atan(y) + atan2(y, z)",
        lambda e, s: s.asin(e["x"]) + s.acos(e["x"]) + s.atan(e["y"]) + s.atan2(e["y"], e["z"]),
    ),
    (
        "arcsin(x) + arccos(x) + arctan(y) + arctan2(y, z)",
        lambda e, s: s.asin(e["x"]) + s.acos(e["x"]) + s.atan(e["y"]) + s.atan2(e["y"], e["z"]),
    ),
    (
        "sinh(x) + cosh(y) + tanh(z) + tan(x) + cos(y)",
        lambda e, s: s.sinh(e["x"]) + s.cosh(e["y"]) + s.tanh(e["z"]) + s.tan(e["x"]) + s.cos(e["y"]),
    ),
    (
        "abs(y) + sign(y) + relu(y) + relu(x) + sigmoid(y)",
        lambda e, s: abs(e["y"]) + s.sign(e["y"]) + e["x"] + 1 / (1 + s.exp(-e["y"])),
    ),
    (
        "max(x, y) + min(x, y) + maximum(y, z) + minimum(y, z)",
        lambda e, s: s.Max(e["x"], e["y"]) + s.Min(e["x"], e["y"]) + s.Max(e["y"], e["z"]) + s.Min(e["y"], e["z"]),
    ),
    ("where(x < y, x, y) + where(x > y, 1, 2) + (x <= y) + (x >= y)", lambda e, s: e["y"] + 1 + 0 + 1),
    ("clip(z, 0, 1) + clip(y, -1, 1)", lambda e, s: s.Min(s.Max(e["z"], 0), 1) + s.Min(s.Max(e["y"], -1), 1)),
    ("stop_gradient(x)*y", lambda e, s: e["x"] * e["y"]),
]


@pytest.mark.parametrize(("text", "reference"), ACCEPTED, ids=[t for t, _ in ACCEPTED])
def test_scalar_constructs_match_sympy(text, reference):
    formula = watched_parse(text)
    assert isinstance(formula, Formula)
    assert isinstance(formula.value, sg.Node)
    assert float(numeric(formula.value, POINT)) == pytest.approx(sympy_value(reference, POINT), rel=1e-12, abs=1e-12)
    assert not _EVENTS


def test_symbols_in_order_of_first_appearance_and_interned():
    f = parse("z*sin(x) + y*x")
    assert list(f.symbols) == ["z", "x", "y"]
    assert f.symbols["x"] is sg.symbols("x")
    assert sg.diff(f.value, sg.symbols("x")) is sg.diff(
        sg.symbols("z") * sg.sin(sg.symbols("x")) + sg.symbols("y") * sg.symbols("x"), sg.symbols("x")
    )


def test_list_literal_is_an_object_array():
    f = parse("[x*y, sin(x)]")
    assert isinstance(f.value, np.ndarray) and f.value.shape == (2,)
    np.testing.assert_allclose(numeric(f.value, POINT), [0.7 * -1.3, math.sin(0.7)])
    nested = parse("[[1, x], (y, 2)]").value
    assert nested.shape == (2, 2)
    np.testing.assert_allclose(numeric(nested, POINT), [[1, 0.7], [-1.3, 2]])


def test_declared_shapes_subscripts_matmul_and_reductions():
    a, m = np.array([1.5, -2.0]), np.array([[1.0, 2.0], [3.0, 4.0]])
    point = {"a[0]": a[0], "a[1]": a[1], **{f"M[{i}, {j}]": m[i, j] for i in range(2) for j in range(2)}}
    shapes = {"a": 2, "M": (2, 2)}
    f = parse("a[0]*a[-1] + M[1, 0]", shapes)
    assert f.symbols["a"].shape == (2,) and f.symbols["M"].shape == (2, 2)
    assert float(numeric(f.value, point)) == pytest.approx(a[0] * a[1] + m[1, 0])
    np.testing.assert_allclose(numeric(parse("M @ a", shapes).value, point), m @ a)
    np.testing.assert_allclose(numeric(parse("matmul(M, a) + dot(a, a)", shapes).value, point), m @ a + a @ a)
    np.testing.assert_allclose(numeric(parse("sum(M, axis=0)", shapes).value, point), m.sum(axis=0))
    np.testing.assert_allclose(
        numeric(parse("mean(M, axis=-1, keepdims=True)", shapes).value, point), m.mean(-1, keepdims=True)
    )
    np.testing.assert_allclose(numeric(parse("prod(a) + sum(M, axis=(0, 1))", shapes).value, point), a.prod() + m.sum())
    sm = np.exp(a) / np.exp(a).sum()
    np.testing.assert_allclose(numeric(parse("softmax(a)", shapes).value, point), sm)
    np.testing.assert_allclose(numeric(parse("log_softmax(a)", shapes).value, point), np.log(sm))
    assert float(numeric(parse("logsumexp(a)", shapes).value, point)) == pytest.approx(np.log(np.exp(a).sum()))
    np.testing.assert_allclose(numeric(parse("M[0]", shapes).value, point), m[0])


def test_pi_and_e_are_symbols_when_declared():
    f = parse("pi*e", {"pi": (), "e": 2})
    assert set(f.symbols) == {"pi", "e"}
    assert f.symbols["e"].shape == (2,)
    assert parse("pi").symbols == {}


def test_array_times_scalar_symbol():
    # numpy hands a bare node to frompyfunc's ufunc protocol; the parser must broadcast it anyway
    f = parse("a*x + where(x < 0, a, x)", {"a": 2})
    point = {"a[0]": 2.0, "a[1]": -3.0, "x": 0.5}
    np.testing.assert_allclose(numeric(f.value, point), [2.0 * 0.5 + 0.5, -3.0 * 0.5 + 0.5])


# -- refused constructs ---------------------------------------------------------------------------------

REFUSED = [
    ("lambda: 1", "lambda", 0),
    ("x.__class__", ".__class__", 1),
    ("x ^ 2", "^", 2),
    ("x and y", "and", 2),
    ("x or y", "or", 2),
    ("not x", "not", 0),
    ("~x", "~", 0),
    ("x // 2", "//", 2),
    ("x % 2", "%", 2),
    ("[x for x in y]", "for", 3),
    ("{x: 1}", "{", 0),
    ("{x}", "{", 0),
    ("'abc' + x", "'abc'", 0),
    ("b'abc'", "b'abc'", 0),
    ("f'{x}'", "f'{x}'", 0),
    ("*x, y", "*", 0),
    ("(y := 2)", ":=", 3),
    ("x if y else z", "if", 2),
    ("a[1:2]", ":", 3),
    ("a[x]", "x", 2),
    ("sin(x)(y)", "sin", 0),
    ("foo(x)", "foo", 0),
    ("open('f')", "open", 0),
    ("sum(a, axis=x)", "x", 12),
    ("sin(x, axis=0)", "axis", 7),
    ("sum(**k)", "**", 4),
    ("sin(*x)", "*", 4),
    ("x is y", "is", 2),
    ("x < y < z", "<", 6),
    ("True + x", "True", 0),
    ("None", "None", 0),
    ("1j*x", "1j", 0),
    ("...", "...", 0),
    ("sin", "sin", 0),
    ("__class__", "__class__", 0),
    ("x +", "", 3),
    ("x $ y", "$", 2),
    ("[]", "[", 0),
    ("sin(x, y)", "sin", 0),
    ("[[1, 2], [3]]", "[", 0),
    ("x[0]", "[", 1),
    ("0x" + "f" * 4200, "0x" + "f" * 4200, 0),  # past the 16,384-bit cap on exact constants
]


@pytest.mark.parametrize(("text", "token", "column"), REFUSED, ids=[t[:20] for t, _, _ in REFUSED])
def test_refused_constructs_name_token_and_column(text, token, column):
    shapes = {"a": 3} if text.startswith(("a[", "sum(a")) else None
    with pytest.raises(FormulaError) as info:
        watched_parse(text, shapes)
    err = info.value
    assert isinstance(err, SymgradError) and isinstance(err, ValueError)
    if token == "" and text == "x +":
        assert err.position == len(text) or text[err.position :].strip() in ("", "+", "x +")
    else:
        assert err.token == token
        assert err.position == column
        assert repr(token) in str(err) and f"column {column}" in str(err)
    assert not _EVENTS


def test_message_format_and_hint():
    with pytest.raises(FormulaError) as info:
        parse("lambda: 1")
    assert str(info.value) == "unsupported syntax 'lambda' at column 0 of \"lambda: 1\""
    with pytest.raises(FormulaError, match=r"use \*\* for powers"):
        parse("x ^ 2")


def test_syntax_error_column_comes_from_python():
    with pytest.raises(FormulaError) as info:
        parse("x + (y")
    assert info.value.position == 4 and info.value.token == "("


def test_import_system_runs_nothing(tmp_path):
    target = tmp_path / "pwned"
    for text in [
        f"__import__('os').system('touch {target}')",
        f"sin(__import__('os').system('touch {target}'))",
        "x.__class__.__bases__[0].__subclasses__()",
        f"[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'x'][0]('touch {target}')",
        f"eval(\"__import__('os').system('touch {target}')\")",
        f'exec(\'open("{target}", "w")\')',
    ]:
        with pytest.raises(FormulaError):
            watched_parse(text)
        assert not _EVENTS, text
    assert not target.exists()


# -- resource guards ------------------------------------------------------------------------------------------

HOSTILE = [
    "9**9**9**9",
    "((((2**64)**64)**64)**64)**64",
    "(((((x*2**64)**64)**64)**64)**64)",
    "((1/3)**64)**64**64",
    "(" * 500 + "x" + ")" * 500,
    "-" * 5000 + "x",
    "x**" * 3000 + "x",
    "sin(" * 300 + "x" + ")" * 300,
    "x" + "+x" * 4000,
    "9" * 5000,
    "1e999999 * x",
    "x" * (MAX_LENGTH + 1),
    "[" + ",".join(["x"] * 1500) + "]*[" + ",".join(["[1]"] * 1500) + "]",
    "\x00x",
    "x\u2028+ 1",
]


@pytest.mark.parametrize("text", HOSTILE, ids=[repr(t[:20]) for t in HOSTILE])
def test_hostile_inputs_are_fast_and_safe(text):
    start = time.perf_counter()
    try:
        f = watched_parse(text)
    except FormulaError as err:
        assert 0 <= err.position <= len(text)
    else:
        _assert_well_formed(f)
    assert time.perf_counter() - start < 5
    assert not _EVENTS


def test_huge_exact_powers_become_inf_quickly():
    start = time.perf_counter()
    assert float(parse("9**9**9**9").value.value) == math.inf
    assert float(parse("((((2**64)**64)**64)**64)**64").value.value) == math.inf
    assert time.perf_counter() - start < 1


def test_declared_shapes_are_validated():
    with pytest.raises(sg.InputError, match="'a'"):
        parse("a", {"a": (-1,)})
    with pytest.raises(sg.InputError, match="elements"):
        parse("a", {"a": (10**6,)})


def _assert_well_formed(f: Formula) -> None:
    cells = np.asarray(f.value, dtype=object).reshape(-1)
    assert all(isinstance(c, sg.Node) for c in cells)
    assert all(isinstance(k, str) for k in f.symbols)


# -- fuzz: generated valid formulas against an independent evaluator ---------------------------------------

UNARY = {
    "sin": math.sin,
    "cos": math.cos,
    "tanh": math.tanh,
    "arctan": math.atan,
    "atan": math.atan,
    "abs": abs,
    "sigmoid": lambda v: 1 / (1 + math.exp(-v)) if v > -700 else 0.0,
    "square": lambda v: v * v,
    "relu": lambda v: max(v, 0.0),
}
BINARY = {"maximum": max, "minimum": min, "max": max, "min": min}

leaves = st.one_of(
    st.sampled_from(["x", "y", "z"]).map(lambda n: ("var", n)),
    st.integers(0, 9).map(lambda v: ("num", v)),
    st.sampled_from([0.5, 1.25, 3.0]).map(lambda v: ("num", v)),
)


def _extend(children):
    return st.one_of(
        st.tuples(st.sampled_from(["+", "-", "*", "/"]), children, children),
        st.tuples(st.just("**"), children, st.integers(0, 3).map(lambda v: ("num", v))),
        st.tuples(st.just("neg"), children),
        st.tuples(st.sampled_from(sorted(UNARY)), children),
        st.tuples(st.sampled_from(sorted(BINARY)), children, children),
        st.tuples(st.just("where"), children, children, children, children),
    )


trees = st.recursive(leaves, _extend, max_leaves=12)


def render(t) -> str:
    kind = t[0]
    if kind == "var":
        return t[1]
    if kind == "num":
        return repr(t[1])
    if kind in ("+", "-", "*", "/", "**"):
        return f"({render(t[1])} {kind} {render(t[2])})"
    if kind == "neg":
        return f"(-{render(t[1])})"
    if kind == "where":
        return f"where({render(t[1])} < {render(t[2])}, {render(t[3])}, {render(t[4])})"
    return f"{kind}({', '.join(render(c) for c in t[1:])})"


def reference(t, scale: list[float]) -> float:
    """The tree's value in plain float arithmetic (inf/nan where Python would raise); records magnitudes."""
    v = _reference(t, scale)
    scale.append(abs(v) if math.isfinite(v) else 0.0)
    return v


def _reference(t, scale):
    kind = t[0]
    if kind == "var":
        return POINT[t[1]]
    if kind == "num":
        return float(t[1])
    args = [reference(c, scale) for c in t[1:]]
    if not all(math.isfinite(a) for a in args):
        return math.nan
    try:
        return _apply(kind, args)
    except (ZeroDivisionError, OverflowError, ValueError):
        return math.nan


def _apply(kind, args):
    if kind == "+":
        return args[0] + args[1]
    if kind == "-":
        return args[0] - args[1]
    if kind == "*":
        return args[0] * args[1]
    if kind == "/":
        return args[0] / args[1]
    if kind == "**":
        return float(args[0] ** int(args[1]))
    if kind == "neg":
        return -args[0]
    if kind == "where":
        return args[2] if args[0] < args[1] else args[3]
    if kind in BINARY:
        return BINARY[kind](*args)
    return float(UNARY[kind](args[0]))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_fuzz_generated_formulas_match_independent_evaluator(tree):
    text = render(tree)
    scale: list[float] = []
    expected = reference(tree, scale)
    f = watched_parse(text)
    assert not _EVENTS
    got = float(numeric(f.value, POINT))
    if math.isfinite(expected) and max(scale) < 1e12:
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-9 * max(1.0, max(scale))), text


DANGEROUS = [
    "__import__",
    "'os'",
    ".",
    "system",
    "lambda",
    "exec",
    "eval",
    "open",
    "getattr",
    "__class__",
    "__subclasses__",
    "for",
    "in",
    "if",
    "else",
    "and",
    "not",
    "=",
    ":=",
    ":",
    "{",
    "}",
    "\\",
    "\n",
    "#",
    "'",
    '"',
    "f'",
    "^",
    "//",
    "9" * 40,
    "1e308",
    "**",
    "*",
    "@",
    "yield",
    "await",
    "...",
    "1j",
]
GRAMMAR = [
    "x",
    "y",
    "a",
    "a[0]",
    "(",
    ")",
    "[",
    "]",
    ",",
    "+",
    "-",
    "*",
    "/",
    "**",
    "<",
    "sin",
    "where",
    "sum",
    "max",
    "2",
    "0.5",
    "axis=0",
]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(max_size=60),
        st.lists(st.sampled_from(GRAMMAR + DANGEROUS), max_size=30).map(" ".join),
        st.lists(st.sampled_from(GRAMMAR), max_size=40).map("".join),
        st.tuples(st.sampled_from(["(", "[", "-", "sin(", "x**", "+"]), st.integers(0, 3000)).map(
            lambda p: p[0] * p[1] + "x"
        ),
        st.integers(0, 10**6).map(lambda n: "9" * (n % 6000) + "**9**9"),
    )
)
def test_fuzz_hostile_strings_give_formula_error_or_a_well_formed_parse(text):
    start = time.perf_counter()
    try:
        f = watched_parse(text, {"a": 3})
    except FormulaError as err:
        assert isinstance(err.token, str) and 0 <= err.position <= len(text)
    else:
        _assert_well_formed(f)
    assert not _EVENTS, text
    assert time.perf_counter() - start < 5


def test_equality_and_inequality_are_elementwise_conditions():
    """``==`` and ``!=`` in a formula are numpy's conditions, usable in where (1 where they hold, else 0)."""
    f = parse("where(x == y, 10*x, 0) + (x != y)")
    x, y = f.symbols["x"], f.symbols["y"]
    assert float(evaluate([f.value], {x: 2.0, y: 2.0})[0]) == 20.0
    assert float(evaluate([f.value], {x: 2.0, y: 3.0})[0]) == 1.0


def test_a_name_is_the_symbol_it_spells_not_its_nfkc_form():
    """Python's parser NFKC-normalizes identifiers: the micro sign "µ" (U+00B5) was read as Greek mu (U+03BC), so
    str(sg.symbols("µ")**2) read back as another symbol, shapes={"µ": 2} was ignored (a scalar), and
    sg.check(µ**2, "2*µ", wrt=µ) judged the right claim WRONG.  sympy reads "µ" as Symbol("µ")."""
    micro = "\u00b5"
    m = sg.symbols(micro)
    assert sympy.sympify(micro).name == micro  # the peer keeps the spelling
    assert sg.parse_formula(str(m**2)).value is m**2
    assert list(sg.parse_formula(f"sum({micro})", shapes={micro: 2}).symbols) == [micro]
    assert sg.parse_formula(f"sum({micro})", shapes={micro: 2}).value is sg.sum(sg.symbols(micro, shape=2))
    assert sg.check(m**2, f"2*{micro}", wrt=m)

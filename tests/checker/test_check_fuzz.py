"""Property test of the exercise checker: a wrong claim is never called right, a right one in another form is.

For random expressions e in x (kinks, domains, smooth parts) the claims are
built from the correct derivative d = de/dx:

- wrong: one top-level term's sign flipped, one factor of a term dropped, a
  term added that is nonzero only for x < 0, or only for |x| > 10;
- right: d rewritten by sympy (expanded, factored, put over one denominator,
  plus sin**2 + cos**2 - 1, times and over x**2 + 1) and brought back through ``sg.from_sympy`` or as a formula string.

Each is checked with sympy and without it (the sampled points alone must
then get the verdict right).  Whether a claim is really wrong (or really right) is judged independently of
the checker, by brute force on a dense grid of x from -1000 to 1000 (both
signs, every magnitude from 1e-3) where e and d are finite; claims the grid
cannot tell apart are skipped.  SYMGRAD_FUZZ_EXAMPLES sets the number of
examples per property (default 20, about 15 s).
"""

from __future__ import annotations

import contextlib
import os
from unittest import mock

import numpy as np
import sympy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import symgrad as sg
from symgrad.checker import decide
from symgrad.errors import SymgradError
from symgrad.ir.evaluate import evaluate

X = sg.symbols("x")
EXAMPLES = int(os.environ.get("SYMGRAD_FUZZ_EXAMPLES", "20"))
GRID = np.unique(
    np.concatenate([np.linspace(-30, 30, 6001), np.geomspace(1e-3, 1e3, 700), -np.geomspace(1e-3, 1e3, 700)])
)
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

UNARY = {
    "sin": sg.sin,
    "cos": sg.cos,
    "tanh": sg.tanh,
    "exp_sin": lambda a: sg.exp(sg.sin(a)),
    "abs": sg.abs,
    "relu": sg.relu,
    "square": sg.square,
    "sqrt": sg.sqrt,  # the domain a >= 0
    "log": sg.log,  # the domain a > 0
    "sigmoid": sg.sigmoid,
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "maximum": sg.maximum,
    "minimum": sg.minimum,
}
LEAVES = st.sampled_from([X, X + 1, X - 2, 3 * X, X**2 - 1, 2 - X])
EXPRESSIONS = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.builds(lambda op, a: UNARY[op](a), st.sampled_from(sorted(UNARY)), inner),
        st.builds(lambda op, a, b: BINARY[op](a, b), st.sampled_from(sorted(BINARY)), inner, inner),
    ),
    max_leaves=4,
)


def _sympy(on: bool):
    """With ``on`` False the checker decides without sympy: the sampled points alone must get it right."""
    off = mock.patch.object(decide, "sympy_differences", lambda correct, claimed: [None] * len(correct))
    return contextlib.nullcontext() if on else off


def _values(node, xs: np.ndarray = GRID) -> np.ndarray:
    return np.broadcast_to(np.asarray(evaluate([node], {X: xs})[0], dtype=float), xs.shape)


def _grid(e, d, claim) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """d and the claim on the grid points where e and d are finite."""
    valid = np.isfinite(_values(e)) & np.isfinite(_values(d))
    return _values(d)[valid], _values(claim)[valid], valid


def _really_wrong(e, d, claim) -> bool:
    """Off by more than 1e-3 (relative) at 1% or more of the valid grid points."""
    c, k, valid = _grid(e, d, claim)
    if valid.sum() < 50:
        return False
    with np.errstate(invalid="ignore"):
        off = ~(np.abs(c - k) <= 1e-3 * (1 + np.abs(c)))
    return off.sum() >= max(5, 0.01 * valid.sum())


def _really_right(e, d, claim) -> bool:
    c, k, valid = _grid(e, d, claim)
    with np.errstate(invalid="ignore"):
        return valid.sum() >= 50 and bool(np.all(np.abs(c - k) <= 1e-8 * (1 + np.abs(c))))


def _terms(d) -> list:
    return list(sympy.Add.make_args(sg.to_sympy(d)))


def _back(expr, as_text: bool):
    """A sympy expression as a claim: a symgrad expression, or its text (the formula-string path)."""
    try:
        node = sg.from_sympy(expr)
    except SymgradError:
        assume(False)
    return str(node) if as_text else node


def _wrong_claim(d, kind: str, pick: int):
    if kind == "negative x only":
        return d + sg.where(X < 0, X**2 + 1, 0)
    if kind == "|x| > 10 only":
        return d + sg.where(sg.abs(X) > 10, 1, 0)
    terms = _terms(d)
    term = terms[pick % len(terms)]
    if kind == "sign flipped":
        return _back(sg.to_sympy(d) - 2 * term, False)
    factors = [f for f in sympy.Mul.make_args(term) if not f.is_number]
    assume(factors)
    return _back(sg.to_sympy(d) - term + term / factors[pick % len(factors)], False)


@SETTINGS
@given(
    EXPRESSIONS,
    st.sampled_from(["sign flipped", "factor dropped", "negative x only", "|x| > 10 only"]),
    st.integers(0, 99),
    st.booleans(),
)
def test_a_wrong_claim_is_never_called_right(e, kind, pick, exact):
    d = sg.diff(e, X)
    assume(d.op != "const" or kind in ("negative x only", "|x| > 10 only"))
    claim = _wrong_claim(d, kind, pick)
    assume(_really_wrong(e, d, claim))
    with _sympy(exact):
        report = sg.check(e, claim, wrt=X)
    assert not report, f"{kind}, sympy {exact}: d/dx {e} = {d}, claimed {claim}\n{report}"


SX = sg.to_sympy(X)
REWRITES = {
    "expand": sympy.expand,
    "factor": sympy.factor,
    "together": sympy.together,
    "expand_trig": lambda s: sympy.expand_trig(sympy.expand(s)),
    "plus sin**2 + cos**2 - 1": lambda s: s + sympy.sin(SX) ** 2 + sympy.cos(SX) ** 2 - 1,
    "times (x**2 + 1) over (x**2 + 1)": lambda s: sympy.expand(s * (SX**2 + 1)) / (SX**2 + 1),
}


@SETTINGS
@given(EXPRESSIONS, st.sampled_from(sorted(REWRITES)), st.booleans(), st.booleans())
def test_a_right_claim_in_another_form_is_right(e, rewrite, as_text, exact):
    d = sg.diff(e, X)
    other = REWRITES[rewrite](sg.to_sympy(d))
    claim = _back(other, as_text)
    node = sg.parse_formula(claim).value if as_text else claim
    assume(node is not d)  # another form, not the same expression back
    assume(_really_right(e, d, node))
    with _sympy(exact):
        report = sg.check(e, claim, wrt=X)
    assert report, f"{rewrite}, sympy {exact}: d/dx {e} = {d}, claimed {claim}\n{report}"

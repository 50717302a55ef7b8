"""The builders' two-operand fast paths build the node the general n-ary path builds.

``add(a, b)`` and ``mul(a, b)`` skip the general path when nothing can combine (two
unlike terms, a sum plus a term unlike all of its terms, a product times a factor it
lacks, a number times a short sum).  Adding a 0 or multiplying by a 1 as a third
operand forces the general path, and hash-consing makes "the same canonical form"
an identity test: any drift between the paths is a different node.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import SX, SY, X, Y, examples, expressions

import symgrad as sg
from symgrad.ir import builders as B

W, Z = sg.symbols("w z")


def _none(*args):  # the strategy builds pairs; only the symgrad side is used here
    return None


UNARY = {"sin": (sg.sin, _none), "exp": (sg.exp, _none), "neg": (lambda a: -a, _none), "sq": (lambda a: a**2, _none)}
BINARY = {  # on nodes (two number leaves would otherwise be Python arithmetic: 0.5/(3 - 3) raises)
    "add": (lambda a, b: B.add(a, b), _none),
    "sub": (lambda a, b: B.sub(a, b), _none),
    "mul": (lambda a, b: B.mul(a, b), _none),
    "div": (lambda a, b: B.div(a, b), _none),
    "where": (lambda a, b: sg.where(B.as_node(a) < b, a, 0.0), _none),
}
LEAVES = [(X, SX), (Y, SY), (W, None), (Z, None), (2 * X, None), (X * Y * W, None), (0.5, None), (3, None)]
TERMS = expressions(UNARY, BINARY, LEAVES, max_leaves=6).map(lambda pair: B.as_node(pair[0]))


@settings(max_examples=examples(300), deadline=None, suppress_health_check=list(HealthCheck))
@given(TERMS, TERMS)
def test_two_operand_sum_is_the_general_sum(a, b):
    assert B.add(a, b) is B.add(a, b, 0)
    assert B.add(b, a) is B.add(a, b)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=list(HealthCheck))
@given(TERMS, TERMS)
def test_two_operand_product_is_the_general_product(a, b):
    assert B.mul(a, b) is B.mul(a, b, 1)
    assert B.mul(b, a) is B.mul(a, b)


@settings(max_examples=examples(200), deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(TERMS, min_size=2, max_size=7), st.sampled_from([0.5, -2, 3, 1.5]))
def test_sums_built_a_term_at_a_time_and_scaled(terms, c):
    s = terms[0]
    for t in terms[1:]:  # the traced-loop pattern, through the sum-plus-term fast path
        s, general = B.add(s, t), B.add(s, t, 0)
        assert s is general
        assert B.mul(c, s) is B.mul(c, s, 1)  # a number times a sum (distributes when short)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from([0.5, -2, 3, 1.5, 1e-200, 1]), TERMS, TERMS)
def test_a_number_times_two_factors_is_the_general_product(c, a, b):
    """mul(c, a, b)'s fast path (reverse mode's k * adjoint * partial) builds what the general path builds."""
    k = B.as_node(c)
    assert B.mul(k, a, b) is B.mul(k, a, b, 1)
    assert B.mul(k, b, a) is B.mul(k, a, b)


LONG = B.add(*sg.symbols("l0:10"))  # more terms than a sum flattens or a number distributes over
PART_TERMS = st.one_of(TERMS, st.just(LONG), st.just(B.mul(*sg.symbols("m0:10"))), st.just(B.as_node(2.5)))


@settings(max_examples=examples(300), deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.sampled_from([None, 0.5, -2, 3, 1e-200, 1e-200, 1]), PART_TERMS), min_size=1, max_size=6))
def test_a_sum_of_scaled_terms_is_the_sum_of_the_built_products(parts):
    """add_scaled([t, (c, u), ...]) (reverse mode's adjoint sums) is add(t, c*u, ...) with the products built first.

    The numbers cover distributing over short sums, a long sum kept whole, selects taking the
    number in, constants folding and 1e-200 * 1e-200 underflowing to a term that is the number 0.
    """
    pairs = [t if c is None else (B.as_node(c), t) for c, t in parts]
    nested = [t if c is None else (B.as_node(c), B.mul(1e-200, t)) for c, t in parts]  # products of numbers
    for given_parts in (pairs, nested):
        built = [p if p.__class__ is not tuple else B.mul(*p) for p in given_parts]
        assert B.add_scaled(given_parts) is B.add(*built, 0)


SUM_TERMS = st.one_of(
    TERMS,
    st.lists(TERMS, min_size=2, max_size=9).map(lambda ts: B.add(*ts)),  # short sums, and past FLATTEN_LIMIT
    st.tuples(TERMS, TERMS).map(lambda p: B.add(LONG, *p)),  # a long sum kept whole as one term
)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=list(HealthCheck))
@given(SUM_TERMS, SUM_TERMS)
def test_a_sum_plus_a_sum_is_the_general_sum(a, b):
    """A traced sum() adds a short sum to a growing one: the two-sum fast path builds the general path's node."""
    assert B.add(a, b) is B.add(a, b, 0)
    assert B.add(b, a) is B.add(a, b)


def _selects_merged(node) -> bool:
    """No sum under ``node`` holds two selects on one condition (the sum rule merges them)."""
    from symgrad.ir.node import toposort

    for m in toposort([node]):
        if m.op == "add":
            conditions = [t.args[0] for t in m.args if t.op == "where"]
            if len(conditions) != len(set(conditions)):
                return False
    return True


@settings(max_examples=examples(300), deadline=None, suppress_health_check=list(HealthCheck))
@given(SUM_TERMS, SUM_TERMS)
def test_sums_merge_every_pair_of_selects_on_one_condition(a, b):
    assert _selects_merged(a) and _selects_merged(b)
    assert _selects_merged(B.add(a, b)) and _selects_merged(B.mul(3, B.add(a, b)))


def test_a_select_collected_twice_merges_with_the_others_on_its_condition():
    """w + w is 2*w, a select again (the number moves in): it merged with nothing (found by the sum fast-path test)."""
    w = sg.where(B.as_node(X) < Y, X, 0.0)
    v = sg.where(B.as_node(X) < Y, -X, 0.0)
    assert B.add(v, w, w, Y) is B.add(w, Y)  # where(x < y, -x + 2*x, 0) + y
    assert B.add(w, w, B.add(v, Y)) is B.add(w, Y)


def test_the_fast_paths_are_taken():
    """The common shapes (names here would fail if a fast path stopped matching them) still canonicalize."""
    s = B.add(sg.sin(X), sg.cos(Y))
    assert B.add(s, sg.exp(W)).args == tuple(sorted((sg.sin(X), sg.cos(Y), sg.exp(W)), key=lambda n: n.key))
    p = B.mul(0.5, sg.sin(X))
    q = B.mul(p, sg.cos(Y))
    assert q.op == "mul" and q.args[0].value == 0.5 and set(q.args[1:]) == {sg.sin(X), sg.cos(Y)}
    assert B.mul(p, sg.sin(X)) is B.mul(0.5, sg.sin(X) ** 2)  # a factor it has: powers combine
    assert B.add(B.add(X, Y), X) is B.add(2 * X, Y)  # a term it has: coefficients collect


def test_commutative_operands_have_one_order_whatever_the_build_order():
    """Structural keys order the operands; f(f(x)) and x, f(g(x)) and g(f(x)) once had equal keys (an xor involution)."""
    assert (X + sg.exp(sg.exp(X))) is (sg.exp(sg.exp(X)) + X)  # sympy: x + exp(exp(x)) == exp(exp(x)) + x
    assert sg.sin(sg.cos(X)) + sg.cos(sg.sin(X)) is sg.cos(sg.sin(X)) + sg.sin(sg.cos(X))
    assert sg.sin(sg.cos(X)) * sg.cos(sg.sin(X)) is sg.cos(sg.sin(X)) * sg.sin(sg.cos(X))
    nested = [X, sg.sin(X), sg.sin(sg.sin(X)), sg.cos(sg.sin(X)), sg.sin(sg.cos(X)), sg.exp(sg.exp(X)), -X]
    assert len({n.key for n in nested}) == len(nested)


def test_selects_that_merge_into_no_select_are_collected_with_the_other_terms():
    """where(c, x, 0) + where(c, -x, 0) is where(c, 0, 0), which is 0: it was left in the sum as a term ``+ 0``."""
    x = sg.symbols("x")
    c = x > 1
    s = B.add(B.add(sg.exp(x), sg.where(c, x, 0)), sg.where(c, -x, 0))
    assert s is sg.exp(x)
    assert B.add(s, x) is B.add(s, x, 0) and str(B.add(s, x)) == "x + exp(x)"
    assert B.add(x, sg.where(c, x, 2), sg.where(c, 0, x - 2)) is 2 * x  # where(c, x, x) is x, collected with x

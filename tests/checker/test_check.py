"""check() and gradcheck(): the course notes' worked examples, their slips, term diagnosis, numeric gradients.

Right claims are sympy's own derivatives (an oracle independent of symgrad's
differentiation), wrong ones are the notes' slips or perturbations of them;
gradcheck is judged against hand-written backward passes whose rightness is
itself checked against finite differences here.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad.checker import check, gradcheck
from symgrad.errors import FormulaError
from symgrad.formula import parse

AT_N2 = {"a": [2.0, 3.0], "b": [6.0, 4.0]}


def sympy_claim(f_text: str, var: str) -> str:
    """The derivative as sympy computes it, printed back as a formula string (the oracle for right claims)."""
    syms = {n: sympy.Symbol(n, real=True) for n in ("a", "b", "x", "x1", "x2", "u", "k", "l", "W", "y")}
    expr = sympy.parse_expr(f_text, local_dict=syms)  # test-side oracle on fixed, trusted strings
    return str(sympy.diff(expr, syms[var]))


# -- the notes' examples --------------------------------------------------------------------------


def test_n1_n4_n5_scalar_examples_right():
    x, y = sg.symbols("x y")
    assert check(2 * (x + y), {"x": "2", "y": 2})
    assert check(5 * x**3, "15*x**2")
    assert check(3 * x**2 + 15, sympy_claim("3*x**2 + 15", "x"))
    assert check(3 * x**2 + 15, 18, at={"x": 3})
    assert not check(3 * x**2 + 15, 17, at={"x": 3})


def test_n2_vector_q_with_outside_gradient():
    a, b = sg.symbols("a b", shape=(2,))
    report = check(3 * a**3 - b**2, {"a": "9*a**2", "b": "-2*b"}, at=AT_N2, name="Q")
    assert report and report.ok
    assert all(c.compared == "vector-Jacobian product with ones" for c in report.components)
    assert "backward(gradient=ones)" in str(report)
    np.testing.assert_allclose(report.components[0].correct_value, [36, 81])
    np.testing.assert_allclose(report.components[1].correct_value, [-12, -8])
    assert check(3 * a**3 - b**2, {"a": [36, 81], "b": [-12, -8]}, at=AT_N2)


def test_n2_sign_slip_is_named_per_term():
    a, b = sg.symbols("a b", shape=(2,))
    report = check(3 * a**3 - b**2, {"a": "9*a**2", "b": "2*b"}, at=AT_N2, name="Q")
    assert not report
    wrong = [c for c in report.components if not c.ok]
    assert [c.variable for c in wrong] == ["b"]
    text = str(report)
    assert "sign error in the term from -b**2: expected -2*b" in text
    np.testing.assert_allclose(wrong[0].claimed_value, [12, 8])


def test_n2_prime_product_form_slip():
    a, b = sg.symbols("a b", shape=(2,))
    report = check(3 * a**3 * b**2, {"a": "9*a**2", "b": "-2*b"}, at=AT_N2, name="Q")
    assert not report
    da, db = report.components
    np.testing.assert_allclose(da.correct_value, [1296, 1296])
    np.testing.assert_allclose(db.correct_value, [288, 648])
    assert "misses the factor -3*a**3" in " ".join(db.diagnosis)
    assert "derivative of 3*a**3 - b**2" in " ".join(db.diagnosis)
    assert "misses the factor b**2" in " ".join(da.diagnosis)
    assert da.correct_text.startswith("9*a**2*b**2")
    # the right reading passes
    assert check(3 * a**3 * b**2, {"a": "9*a**2*b**2", "b": "6*a**3*b"}, at=AT_N2)


def test_n3_n6_n7_multivariable_right_and_perturbed():
    cases = [
        ("(x-3)*(x-6)*(x-4)", ["x"]),
        ("x1**3 + x2**2 + 4*x1*x2 + 5", ["x1", "x2"]),
        ("3*x**5 + 2*u**2*k*x + l*x + l", ["x", "u", "k", "l"]),
    ]
    for f_text, names in cases:
        f = _parse(f_text)
        claims = {n: sympy_claim(f_text, n) for n in names}
        assert check(f, claims), f_text
        for n in names:
            wrong = dict(claims, **{n: claims[n] + " + x**7"})
            report = check(f, wrong)
            assert not report
            bad = [c for c in report.components if not c.ok]
            assert [c.variable for c in bad] == [n]
            assert any("extra term" in d for d in bad[0].diagnosis), str(report)


def _parse(text):
    return parse(text).value


def test_n6_and_n7_numbers_at_the_point():
    assert check(_parse("x1**3 + x2**2 + 4*x1*x2 + 5"), {"x1": 43, "x2": 20}, at={"x1": 3, "x2": 4})
    f7 = _parse("3*x**5 + 2*u**2*k*x + l*x + l")
    assert check(f7, {"x": 337, "u": 96, "k": 64, "l": 3}, at={"x": 2, "u": 4, "k": 3, "l": 1})
    report = check(f7, {"x": 337, "u": 96, "k": 64, "l": 2}, at={"x": 2, "u": 4, "k": 3, "l": 1})
    assert [c.variable for c in report.components if not c.ok] == ["l"]
    assert "x + 1" in str(report)


def test_n8_mean_right_and_n8_prime_slip():
    def loss_mean(x):
        return sg.mean(2 * (x + 2) ** 2)

    def loss_third(x):
        z = 2 * (x + 2) ** 2
        return (z[0] + z[1]) / 3

    at = {"x": [1.0, 2.0]}
    assert check(loss_mean, [6, 8], at=at)
    assert check(loss_mean, "2*(x + 2)", at=at)
    report = check(loss_third, [6, 8], at=at)
    assert not report
    (c,) = report.components
    np.testing.assert_allclose(c.correct_value, [4, 16 / 3])
    assert "3/2 times the correct ones" in str(report)
    assert "4*x/3" in c.correct_text.replace(" ", "") or "4*x/3" in str(report).replace(" ", "")
    assert check(loss_third, [4, 16 / 3], at=at)


def test_n9_linear_model_step():
    w, x, y = sg.symbols("w x y")
    assert check((w * x - y) ** 2, {"w": -2}, wrt="w", at={"w": 1, "x": 1, "y": 2})


def test_n10_slip_and_right_reading():
    W, x, b, y = sg.symbols("W x b y")
    L = (y - (W * x + b)) ** 2
    report = check(L, "2*(y - (W*x + b))*W*x", wrt=W, name="L")
    assert not report
    text = str(report)
    assert "wrong sign" in text and "extra factor W" in text
    assert report.components[0].witness
    assert check(L, {"W": "-2*(y - (W*x + b))*x", "b": "-2*(y - (W*x + b))"}, name="L")


def test_n15_cross_entropy_gradient_is_softmax_minus_onehot():
    def ce(z):
        return -sg.log_softmax(z)[0]

    z0 = np.array([2.0, 1.0, 0.1])
    sm = np.exp(z0) / np.exp(z0).sum()
    assert check(ce, sm - np.array([1.0, 0.0, 0.0]), at={"z": z0})
    assert not check(ce, sm, at={"z": z0})


# -- forms of claims ------------------------------------------------------------------------------------


def test_function_claims_and_expression_claims():
    def f(x1, x2):
        return x1**3 + x2**2 + 4 * x1 * x2 + 5

    assert check(f, lambda x1, x2: (3 * x1**2 + 4 * x2, 2 * x2 + 4 * x1))
    report = check(f, lambda x1, x2: (3 * x1**2 + 4 * x2, 2 * x2 + 2 * x1))
    assert [c.ok for c in report.components] == [True, False]
    assert "wrong coefficient" in str(report)
    x1, x2 = sg.symbols("x1 x2")
    assert check(f, [3 * x1**2 + 4 * x2, 2 * x2 + 4 * x1])
    assert check(f, 3 * x1**2 + 4 * x2, wrt="x1")


def test_missing_term_and_numeric_decision():
    x, y = sg.symbols("x y")
    report = check(x**2 * y + sg.sin(x), "2*x*y", wrt=x)
    assert not report
    assert any("missing term from sin(x): cos(x)" in d for d in report.components[0].diagnosis)
    # equal but not obviously so: decided (symbolically or numerically) as right
    assert check(sg.sin(x) ** 2, "sin(2*x)", wrt=x)


def test_report_to_dict_is_json():
    a, b = sg.symbols("a b", shape=(2,))
    report = check(3 * a**3 - b**2, {"a": "9*a**2", "b": "2*b"}, at=AT_N2)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False
    assert [c["verdict"] for c in data["components"]] == ["right", "wrong"]
    assert data["components"][1]["correct_value"] == [-12.0, -8.0]


def test_bad_input_errors():
    x, y = sg.symbols("x y")
    with pytest.raises(sg.InputError, match="at="):
        check(x**2, 6)
    with pytest.raises(sg.InputError, match="dict"):
        check(x * y, "y")
    with pytest.raises(sg.InputError, match="no value for y"):
        check(x * y, {"x": 1, "y": 2}, at={"x": 1})
    a = sg.symbols("a", shape=(2,))
    with pytest.raises(sg.ShapeError, match=r"\(3,\)"):
        check(sg.sum(a**2), [1, 2, 3], at={"a": [1, 2]})
    with pytest.raises(sg.ShapeError, match=r"at\['a'\]"):
        check(sg.sum(a**2), [1, 2], at={"a": [1, 2, 3]})
    with pytest.raises(sg.InputError, match="real numbers"):
        check(x**2, 6, at={"x": "three"})
    with pytest.raises(FormulaError):
        check(x**2, "2*x +")


# -- gradcheck ----------------------------------------------------------------------------------------------

RNG = np.random.default_rng(0)
W0, X0, Y0 = RNG.standard_normal((3, 4)), RNG.standard_normal(4), RNG.standard_normal(3)


def loss(W, x, y):
    return np.sum((W @ x - y) ** 2)


def backward(W, x, y):
    r = W @ x - y
    return 2 * np.outer(r, x), 2 * W.T @ r, -2 * r


def backward_wrong(W, x, y):
    r = W @ x - y
    return np.outer(r, x), 2 * W.T @ r, -2 * r  # forgot the 2 of the square


def test_oracle_backward_matches_finite_differences():
    # the test's own oracle, so the gradcheck verdicts below mean something
    h = 1e-6
    num = np.zeros_like(W0)
    for idx in np.ndindex(*W0.shape):
        d = np.zeros_like(W0)
        d[idx] = h
        num[idx] = (loss(W0 + d, X0, Y0) - loss(W0 - d, X0, Y0)) / (2 * h)
    np.testing.assert_allclose(backward(W0, X0, Y0)[0], num, rtol=1e-6)


def test_gradcheck_right_and_wrong_backward():
    right = gradcheck(loss, backward, (W0, X0, Y0))
    assert right and right.tolerance_ok and right.order_ok
    assert all(o is not None and abs(o - 2) < 0.3 for o in right.orders)
    wrong = gradcheck(loss, backward_wrong, (W0, X0, Y0))
    assert not wrong
    assert all(o is not None and abs(o - 1) < 0.3 for o in wrong.orders)
    assert wrong.worst["input"] == 0
    assert wrong.worst["rel_error"] == pytest.approx(0.5, rel=1e-3)
    text = str(wrong)
    assert "WRONG" in text and "eps=" in text and "rtol=" in text and "worst entry" in text


def test_gradcheck_float32_pitfall():
    def back32(W, x, y):
        return tuple(g.astype(np.float32) for g in backward(W, x, y))

    def wrong32(W, x, y):
        return tuple(g.astype(np.float32) for g in backward_wrong(W, x, y))

    assert gradcheck(loss, back32, (W0.astype(np.float32), X0, Y0))
    assert not gradcheck(loss, wrong32, (W0, X0, Y0))

    def loss32(W, x, y):  # a forward pass in float32 too
        return np.sum((W.astype(np.float32) @ x.astype(np.float32) - y.astype(np.float32)) ** 2)

    assert gradcheck(loss32, back32, (W0, X0, Y0))
    assert not gradcheck(loss32, wrong32, (W0, X0, Y0))


def test_gradcheck_order_decides_when_tolerance_is_too_strict():
    report = gradcheck(loss, backward, (W0, X0, Y0), rtol=1e-14, atol=0.0)
    assert not report.tolerance_ok and report.order_ok and report.ok
    assert "decided by the order" in report.basis


def test_gradcheck_linear_function_rounding_level():
    report = gradcheck(lambda x: 3 * x + 1, lambda x: np.full_like(x, 3.0), np.array([1.0, 2.0]))
    assert report and report.order_ok is None
    assert not gradcheck(lambda x: 3 * x + 1, lambda x: np.full_like(x, 3.1), np.array([1.0, 2.0]))


def test_gradcheck_self_test_of_symgrad():
    report = gradcheck(lambda W, x, y: sg.sum((W @ x - y) ** 2), (W0, X0, Y0))
    assert report and report.order_ok
    assert gradcheck(lambda x: sg.sin(x) * sg.exp(x), 0.3)


def test_gradcheck_bad_input():
    with pytest.raises(sg.ShapeError, match=r"gradient 0 has shape \(4, 3\).*\(3, 4\)"):
        gradcheck(loss, lambda W, x, y: (W.T, x, y), (W0, X0, Y0))
    with pytest.raises(sg.InputError, match="one gradient per input"):
        gradcheck(loss, lambda W, x, y: (W, x), (W0, X0, Y0))
    with pytest.raises(sg.InputError, match=r"inputs\[1\]"):
        gradcheck(loss, backward, (W0, "x", Y0))
    with pytest.raises(sg.InputError, match="inputs is missing"):
        gradcheck(loss, backward)


def test_gradcheck_order_cannot_hide_a_wrong_entry_under_another_entrys_curvature():
    # linear regression with one feature 1000 times larger than the other: f curves 10^6 times more
    # along w[1] than along b, so along a random direction the h^2 remainder hides b's wrong slope
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 2)) * np.array([1.0, 1000.0])
    y = rng.standard_normal(50)

    def mse(w, b):
        return np.mean((X @ w + b - y) ** 2)

    def back(w, b):
        r = X @ w + b - y
        return 2 * X.T @ r / len(y), 2 * np.mean(r)

    def back_wrong(w, b):
        r = X @ w + b - y
        return 2 * X.T @ r / len(y), np.mean(r)  # forgot the 2 of the square for the bias

    point = (np.array([0.3, -0.002]), 0.1)
    assert gradcheck(mse, back, point)
    assert not gradcheck(mse, back_wrong, point)
    f = lambda x, y: x**2 + 1e4 * y**2
    assert gradcheck(f, lambda x, y: (2 * x, 2e4 * y), (1.0, 1.0))
    for err in (1e-4, 1e-3):  # 5e-5 and 5e-4 relative: far beyond rtol=1e-5 and the differences' own error
        assert not gradcheck(f, lambda x, y, err=err: (2 * x + err, 2e4 * y), (1.0, 1.0))


def test_gradcheck_refuses_bad_steps_and_tolerances_before_calling_anything():
    calls = []

    def backward(x):
        calls.append(x)
        return 2 * x

    for options, match in [
        ({"eps": 0}, "eps is a relative step"),
        ({"eps": 2.0}, "eps is a relative step"),
        ({"eps": float("nan")}, "eps must be a number"),
        ({"rtol": -1.0}, "rtol must be a number"),
        ({"atol": "1e-3"}, "atol must be a number"),
    ]:
        with pytest.raises(sg.InputError, match=match):
            gradcheck(lambda x: x**2, backward, 1.0, **options)
    assert not calls


def test_gradcheck_of_inputs_with_no_elements_reports_it():
    report = gradcheck(lambda x: np.sum(x**2), lambda x: 2 * x, np.zeros(0))
    assert report and "no entry to compare" in str(report)  # str() raised KeyError


def test_gradcheck_at_a_kink_judges_the_other_entries_and_says_so():
    x0 = np.array([0.0, 1.0, -1.0])
    report = gradcheck(lambda x: np.sum(np.abs(x)), np.sign, x0)
    assert report and "kink at input 0 index (0,)" in str(report)  # was WRONG: the order through |x| at 0 is 1
    assert gradcheck(lambda x: np.sum(np.maximum(x, 0)), lambda x: (x > 0).astype(float), x0)  # relu'(0) = 0
    assert gradcheck(lambda x: sg.sum(sg.relu(x)), x0) and gradcheck(lambda x: sg.sum(sg.abs(x)), x0)  # self-tests
    assert not gradcheck(lambda x: np.sum(np.abs(x)), lambda x: np.sign(x) * np.array([1.0, 2.0, 1.0]), x0)
    assert not gradcheck(lambda x: np.sum(np.abs(x)), lambda x: -np.sign(x), x0)  # wrong away from the kink


def test_gradcheck_sees_no_kink_in_a_smooth_function():
    report = gradcheck(lambda x: np.sum(x**3 + np.exp(x)), lambda x: 3 * x**2 + np.exp(x) + 1e-3, np.array([0.0, 1.0]))
    assert not report and "kink" not in str(report)


def test_claims_in_scalar_symbols_read_elementwise_for_array_arguments():
    """A claim built from sg.symbols("a b") for f's array arguments a, b means what the formula "9*a**2" means.

    A function checked at arrays (its shapes taken from at=) has array arguments a[0], a[1]; the claim
    9*a**2*b**2 in the scalar symbols a, b was compared as if a and b were further, unrelated variables:
    a right claim came back WRONG (with "difference, simplified: 0") and at= was dropped.
    Expected values by hand: 9*a**2*b**2 at a = (2, 3), b = (6, 4) is (9*4*36, 9*9*16) = (1296, 1296);
    6*a**3*b is (6*8*6, 6*27*4) = (288, 648).
    """
    a, b = sg.symbols("a b")
    right = check(lambda a, b: 3 * a**3 * b**2, {"a": 9 * a**2 * b**2, "b": 6 * a**3 * b}, at=AT_N2)
    assert right, str(right)
    np.testing.assert_allclose(right.components[0].claimed_value, [1296, 1296])
    np.testing.assert_allclose(right.components[1].claimed_value, [288, 648])
    wrong = check(lambda a, b: 3 * a**3 * b**2, {"a": 9 * a**2, "b": -2 * b}, at=AT_N2)
    assert not wrong
    da, db = wrong.components
    np.testing.assert_allclose(da.claimed_value, [36, 81])  # 9*a**2 at a = (2, 3)
    np.testing.assert_allclose(db.claimed_value, [-12, -8])  # -2*b at b = (6, 4)
    np.testing.assert_allclose(da.correct_value, [1296, 1296])
    assert "misses the factor b**2" in " ".join(da.diagnosis)
    # the same for an expression in array symbols
    A, Bv = sg.symbols("a b", shape=(2,))
    assert check(3 * A**3 - Bv**2, {"a": 9 * a**2, "b": -2 * b}, at=AT_N2)
    assert not check(3 * A**3 - Bv**2, {"a": 9 * a**2, "b": 2 * b}, at=AT_N2)


@pytest.mark.parametrize("claimed", [[["y", "cos(x)"], ["x", "0"]], "[[y, cos(x)], [x, 0]]"])
def test_a_transposed_jacobian_is_wrong_and_the_report_says_it_is_the_transpose(claimed):
    """The layout slip: rows written per variable where the Jacobian's rows are f's entries (d f_i / d x_j)."""
    report = sg.check("[x*y, sin(x)]", claimed)
    assert report.verdict == "wrong"
    assert any("transpose is right" in n for n in report.notes)


def test_a_wrong_jacobian_whose_transpose_is_wrong_too_gets_no_transpose_note():
    report = sg.check("[x*y, sin(x)]", [["y", "x"], ["cos(x)", "1"]])
    assert report.verdict == "wrong"
    assert not any("transpose" in n for n in report.notes)
    assert sg.check("[x*y, sin(x)]", [["y", "x"], ["cos(x)", "0"]]).verdict == "right"  # the Jacobian itself


@pytest.mark.parametrize("name", ["e", "E", "pi", "inf"])
def test_a_claim_reads_the_subjects_symbols_not_the_constants_of_that_name(name):
    """The claim's text was parsed without f's scalar symbols declared, so the symbol e of f = e**2 read as
    2.718... in the claim "2*e": the right derivative was judged WRONG (and "2*2.718281828459045" right)."""
    s, x = sg.symbols(f"{name} x")
    d = sympy.diff(sg.to_sympy(s**2 * x), sg.to_sympy(s))  # the oracle: 2*s*x
    assert str(d) == f"2*{name}*x"
    assert check(s**2 * x, str(d), wrt=s)
    assert check(s**2 * x, f"[2*{name}*x, {name}**2]", wrt=[s, x])
    assert not check(s**2 * x, f"2*{name}*x + 1", wrt=s)

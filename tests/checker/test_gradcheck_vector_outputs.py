"""gradcheck of a vector-valued fn: each output entry is differenced on its own scale.

The outputs used to be summed before the differences, so exp(40) (about 2.4e17,
rounding about 32) swallowed exp(1)'s whole change under a step of 6e-6: the
central difference of entry 0 was 0, its rounding estimate huge, and a gradient
with entry 0 wrong (0 for e = 2.718...) was called right.  Expectations are
exp's own derivative, written out.
"""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg

X = np.array([1.0, 40.0])


def _wrong_first(x):
    d = np.exp(x)
    d[0] = 0.0  # the true value is e
    return d


def test_a_wrong_entry_beside_a_huge_output_entry_is_found():
    report = sg.gradcheck(np.exp, _wrong_first, X)
    assert not report, str(report)


def test_the_right_gradient_beside_a_huge_output_entry_is_right():
    report = sg.gradcheck(np.exp, np.exp, X)
    assert report and report.tolerance_ok, str(report)


def test_a_wrong_entry_in_float32_outputs_is_found():
    report = sg.gradcheck(lambda x: np.exp(x).astype(np.float32), _wrong_first, np.array([1.0, 20.0]))
    assert not report, str(report)


def test_scalar_outputs_keep_their_verdicts():
    assert sg.gradcheck(lambda x: np.sum(x**2), lambda x: 2 * x, np.array([0.3, -1.2, 2.0]))
    assert not sg.gradcheck(lambda x: np.sum(x**2), lambda x: 2 * x + 1e-4, np.array([0.3, -1.2, 2.0]))
    assert sg.gradcheck(lambda x: np.sum(x.astype(np.float32) ** 2), lambda x: 2 * x, np.array([0.3, -1.2, 2.0]))


def test_a_tuple_of_outputs_of_any_shapes_is_checked_as_the_sum_of_all_its_entries():
    """fn returning (x**2, ones(3)) raised numpy's bare 'inhomogeneous shape' ValueError; its outputs now sum, as arrays do."""
    x = np.array([1.0, 2.0])
    assert sg.gradcheck(lambda v: (v**2, np.ones(3)), lambda v: 2 * v, x).ok
    assert sg.gradcheck(lambda v: (v**2, v**3), lambda v: 2 * v + 3 * v**2, x).ok
    assert not sg.gradcheck(lambda v: (v**2, v**3), lambda v: 2 * v, x).ok  # the second output's part missing
    with pytest.raises(sg.InputError, match="tuple"):
        sg.gradcheck(lambda v: (v**2, [1.0, [2.0]]), lambda v: 2 * v, x)

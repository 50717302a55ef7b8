"""jvp, vjp and hvp of a compiled function given the wrong number of primals: an InputError counting primals.

It named the product's own arguments (``expected 4 argument(s) (x, y, x_dot, y_dot), got 2``)
where a Python function's error counts the function's (jax.jvp: a TypeError of the call).
"""

import numpy as np
import pytest

import symgrad as sg

MESSAGE = r"the function takes 2 positional argument\(s\) \(x, y\), got 1"


@pytest.fixture
def compiled():
    return sg.compile(lambda x, y: sg.sum(x**2) * y, shapes={"x": (2,)})


def test_jvp_and_hvp_count_primals(compiled):
    with pytest.raises(sg.InputError, match=MESSAGE):
        sg.jvp(compiled, (np.ones(2),), (np.ones(2),))
    with pytest.raises(sg.InputError, match=MESSAGE):
        sg.hvp(compiled, (np.ones(2),), (np.ones(2),))


def test_vjp_counts_primals(compiled):
    with pytest.raises(sg.InputError, match=MESSAGE):
        sg.vjp(compiled, np.ones(2))


def test_the_right_count_still_works(compiled):
    value, tangent = sg.jvp(compiled, (np.ones(2), 3.0), (np.ones(2), 0.0))
    assert (value, tangent) == (6.0, 12.0)

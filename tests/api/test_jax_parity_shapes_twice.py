"""shapes= declaring one argument twice (by name and by position) is an InputError, not the last entry winning."""

import numpy as np
import pytest

import symgrad as sg


def f(x, y):
    return sg.sum(x * y)


@pytest.mark.parametrize(
    ("shapes", "keys"), [({0: (2,), "x": (3,)}, "as 0 and as 'x'"), ({"x": (2,), -2: (2,)}, "as 'x' and as -2")]
)
def test_an_argument_declared_twice_is_refused(shapes, keys):
    with pytest.raises(sg.InputError, match=f"declares argument 'x' twice, {keys}"):
        sg.grad(f, shapes=shapes)


def test_each_argument_once_by_name_or_position():
    np.testing.assert_array_equal(sg.grad(f, shapes={0: (2,), "y": None})(np.ones(2), 3.0), [3.0, 3.0])

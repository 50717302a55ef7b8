"""shapes= given again for a compiled pytree function matches its dicts by key, in any order, as calls do.

``sg.grad(f, shapes={"p": {"b": None, "W": (2,)}})`` of a function compiled with
``{"p": {"W": (2,), "b": None}}`` was a ShapeError ("conflict"), though the two
declare the same argument and a call's dict may be written in either order.
"""

import numpy as np
import pytest

import symgrad as sg

SHAPES = {"p": {"W": (2,), "b": None}}


@pytest.fixture
def compiled():
    return sg.compile(lambda p: sg.sum(p["W"]) * p["b"], shapes=SHAPES)


def test_the_same_declaration_in_another_key_order_is_no_conflict(compiled):
    g = sg.grad(compiled, shapes={"p": {"b": None, "W": (2,)}})
    grads = g({"W": np.ones(2), "b": 2.0})
    np.testing.assert_array_equal(grads["W"], [2.0, 2.0])
    assert grads["b"] == 2.0
    sg.vmap(compiled, shapes={"p": {"b": None, "W": (2,)}})


def test_another_declaration_still_conflicts(compiled):
    with pytest.raises(sg.ShapeError, match="conflict"):
        sg.grad(compiled, shapes={"p": {"b": None, "W": (3,)}})
    with pytest.raises(sg.ShapeError, match="conflict"):
        sg.grad(compiled, shapes={"p": {"W": (2,), "c": None}})
    with pytest.raises(sg.ShapeError, match="conflict"):
        sg.grad(compiled, shapes={"p": [(2,), None]})

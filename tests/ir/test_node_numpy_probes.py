"""numpy converts lists of nodes without running Python code per node, and array attributes still say what is wrong."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

import symgrad as sg


def _python_calls_during(fn) -> list[str]:
    calls: list[str] = []

    def profile(frame, event, arg):
        if event == "call":
            calls.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}")

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return calls


def test_an_object_array_of_nodes_is_built_without_python_calls_per_node():
    """numpy probes each element for __array__, __array_interface__ and __array_struct__.

    A Python-level ``__getattr__`` on Node answered each probe by raising an exception in Python
    (~2 µs a node: 11 ms for a 6,000-entry sparse Hessian's object array); the array attributes are
    descriptors now, so a missing attribute costs CPython nothing.
    """
    xs = sg.symbols("x", shape=(50,))
    nodes = [xs[i] * xs[(i + 1) % 50] for i in range(50)]
    calls = _python_calls_during(lambda: np.array(nodes, dtype=object))
    assert [c for c in calls if "symgrad" in c] == []


@pytest.mark.parametrize("name, shown", [("sum", ".sum()"), ("shape", ".shape"), ("reshape", ".reshape()")])
def test_array_attributes_of_a_scalar_say_it_is_a_scalar(name, shown):
    x = sg.symbols("x")
    with pytest.raises(sg.ArrayMethodError, match=re.escape(shown) + ".*scalar symbol"):
        getattr(x, name)
    assert not hasattr(x, name)  # an AttributeError too: hasattr and getattr(x, name, default) probes work
    assert getattr(x, "no_such_attribute", 3) == 3

"""sg.jvp, sg.vjp and sg.hvp trace the function at every call, as jax.jvp does, and reuse code for the same graph.

A build cached on the function alone went on computing with the values the
function closed over at its first call: a wrong answer with no warning.
"""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg
from symgrad.api import products


def test_a_changed_closure_is_seen_by_jvp_vjp_and_hvp():
    params = {"w": 1.0}

    def f(x):
        return params["w"] * x**3

    assert sg.jvp(f, (2.0,), (1.0,)) == (8.0, 12.0)
    _, back = sg.vjp(f, 2.0)
    assert back(1.0) == (12.0,)
    assert sg.hvp(f, (2.0,), (1.0,)) == 12.0
    params["w"] = 5.0
    assert sg.jvp(f, (2.0,), (1.0,)) == (40.0, 60.0)
    value, back = sg.vjp(f, 2.0)
    assert value == 40.0 and back(1.0) == (60.0,)
    assert sg.hvp(f, (2.0,), (1.0,)) == 60.0


def test_a_rebound_global_is_seen():
    global SCALE
    SCALE = 2.0
    assert sg.jvp(_scaled_square, (1.0,), (1.0,)) == (2.0, 4.0)
    SCALE = 3.0
    assert sg.jvp(_scaled_square, (1.0,), (1.0,)) == (3.0, 6.0)


SCALE = 1.0


def _scaled_square(x):
    return SCALE * x**2


def test_the_same_graph_reuses_its_build_and_a_new_one_replaces_it(monkeypatch):
    built = []
    real = products._hvp_build
    monkeypatch.setattr(products, "_hvp_build", lambda program, opts: built.append(1) or real(program, opts))
    k = [1.0]

    def f(x):
        return k[0] * sg.sum(sg.sin(x) * x)

    x, v = np.linspace(-1, 1, 5), np.ones(5)
    for _ in range(3):
        sg.hvp(f, (x,), (v,), shapes={"x": (5,)})
    assert len(built) == 1  # new points and vectors, the same graph: one build
    k[0] = 2.0
    got = sg.hvp(f, (x,), (v,), shapes={"x": (5,)})
    assert len(built) == 2
    want = 2.0 * (2 * np.cos(x) - x * np.sin(x)) * v
    np.testing.assert_allclose(got, want, rtol=1e-12)
    (entry,) = products._PER_FUNCTION[f].values()  # the last graph only: changing state does not pile up builds
    assert entry[1] is not None


@pytest.mark.parametrize(
    "call",
    [
        lambda: sg.jvp(lambda x, y: x * y, (1.0,), (1.0,)),
        lambda: sg.vjp(lambda x: x, 1.0, 2.0),
        lambda: sg.hvp(lambda x, y=2.0: x * y, (1.0, 2.0, 3.0), (1.0, 2.0, 3.0)),
    ],
)
def test_a_wrong_number_of_primals_is_an_input_error(call):
    with pytest.raises(sg.InputError, match="positional argument"):
        call()  # was the traced lambda's own TypeError

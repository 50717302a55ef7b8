"""Outputs with no slots at all (an empty array, an empty dict or list) keep their structure on the float path."""

import numpy as np
import pytest

import symgrad as sg

BACKENDS = ["numpy", "c"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "fn, expected",
    [
        (lambda x: {}, {}),
        (lambda x: [], []),
        (lambda x: (), ()),
        (lambda x: np.zeros(0) * x, np.zeros(0)),
        (lambda x: {"a": np.zeros(0) * x}, {"a": np.zeros(0)}),
        (lambda x: [np.zeros((2, 0)) * x], [np.zeros((2, 0))]),
    ],
)
def test_float_call_of_a_slotless_output_has_its_structure(backend, fn, expected):
    got = sg.compile(fn, backend=backend)(1.0)
    assert type(got) is type(expected)
    if isinstance(expected, dict):
        assert got.keys() == expected.keys()
        got, expected = list(got.values()), list(expected.values())
    if isinstance(expected, (list, tuple)):
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert isinstance(g, np.ndarray) and g.shape == e.shape
    else:
        assert got.shape == expected.shape


def test_sparse_hessian_of_a_linear_function_has_array_values_on_floats():
    h = sg.hessian(lambda x, y: x + y, argnums=(0, 1), sparse=True)(1.0, 2.0)
    assert isinstance(h.values, np.ndarray) and h.values.shape == (0,)
    np.testing.assert_array_equal(h.todense(), np.zeros((2, 2)))


@pytest.mark.parametrize(
    "build",
    [
        lambda: sg.compile(lambda x: {}, verify=True),
        lambda: sg.compile(lambda x: np.zeros(0) * x, verify=True),
        lambda: sg.hessian(lambda x, y: x + y, argnums=(0, 1), sparse=True, verify=True),
        lambda: sg.jacobian(lambda v: v, shapes={"v": (0,)}, verify=True),
        lambda: sg.grad(lambda v, x: sg.sum(v) + x**2, argnums=1, shapes={"v": (0,)}, verify=True),
    ],
)
def test_verify_accepts_outputs_and_arguments_with_no_elements(build):
    build()  # was a ValueError from numpy (reshape of an empty block, np.stack of no columns)

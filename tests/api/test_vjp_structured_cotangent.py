"""The function ``sg.vjp`` returns takes a cotangent in the output's structure, as ``jax.vjp``'s does."""

import numpy as np
import pytest

import symgrad as sg


def test_tuple_output_takes_one_tuple_cotangent_or_one_per_leaf():
    primal, back = sg.vjp(lambda x, y: (x * y, x + y), 2.0, 3.0)
    assert primal == (6.0, 5.0)
    assert back((1.0, 1.0)) == (4.0, 3.0)  # jax.vjp's convention
    assert back(1.0, 1.0) == (4.0, 3.0)  # one per output leaf, as before
    assert back([2.0, 0.0]) == (6.0, 4.0)


def test_dict_output_takes_a_dict_cotangent_matched_by_key():
    primal, back = sg.vjp(lambda x, y: {"b": x * y, "a": x + y}, 2.0, 3.0)
    assert primal == {"b": 6.0, "a": 5.0}
    assert back({"a": 0.0, "b": 1.0}) == (3.0, 2.0)  # d(xy) = (y, x), whatever order the dict is written in
    assert back({"b": 0.0, "a": 1.0}) == (1.0, 1.0)


def test_one_leaf_containers():
    _, back = sg.vjp(lambda x: {"a": x**2}, 2.0)
    assert back({"a": 1.0}) == (4.0,)
    assert back(1.0) == (4.0,)
    _, back = sg.vjp(lambda x: (x**2,), 2.0)
    assert back(1.0) == (4.0,)
    np.testing.assert_array_equal(back(np.array([1.0, 2.0]))[0], [4.0, 8.0])  # still a batch of cotangents


def test_structured_cotangent_with_arrays():
    shapes = {"v": (3,)}
    _, back = sg.vjp(lambda v: (v * 2, sg.sum(v**2)), np.arange(3.0), shapes=shapes)
    (g,) = back((np.ones(3), 1.0))
    np.testing.assert_allclose(g, 2 + 2 * np.arange(3.0))


def test_a_cotangent_of_another_structure_names_the_output_structure():
    _, back = sg.vjp(lambda x, y: (x * y, x + y), 2.0, 3.0)
    with pytest.raises(sg.InputError, match=r"output's structure \(\(\), \(\)\)"):
        back((1.0, 2.0, 3.0))
    _, back = sg.vjp(lambda x: {"a": x, "b": x}, 2.0)
    with pytest.raises(sg.InputError, match="structure"):
        back({"a": 1.0})


def test_a_wrong_number_of_cotangents_counts_cotangents_not_primals():
    _, back = sg.vjp(lambda x, y: x * y, 1.0, 2.0)
    with pytest.raises(sg.InputError, match=r"takes 1 cotangent\(s\) \(ct\), got 2"):
        back(1.0, 2.0)
    with pytest.raises(sg.InputError, match=r"takes 1 cotangent\(s\) \(ct\), got 0"):
        back()
    _, back = sg.vjp(lambda x: (x, x, x), 1.0)
    with pytest.raises(sg.InputError, match=r"takes 3 cotangent\(s\) \(ct0, ct1, ct2\) \(or one in the output's"):
        back(1.0, 2.0)


def test_a_one_leaf_cotangent_in_the_output_structure_is_read_along_it():
    # jax.vjp(lambda x: [x**2], x)[1]([ct]) is (2 x ct,): the list is the structure, not a batch of one
    x = np.arange(1.0, 4.0)
    _, back = sg.vjp(lambda v: [v**2], x, shapes={"v": (3,)})
    (g,) = back([np.ones(3)])
    assert g.shape == (3,)
    np.testing.assert_array_equal(g, 2 * x)
    _, back = sg.vjp(lambda x: (x * np.ones(2),), 2.0)
    assert back((np.array([1.0, 2.0]),)) == (3.0,)
    _, back = sg.vjp(lambda x: [x**2], 2.0)
    assert back([1.0]) == (4.0,)
    np.testing.assert_array_equal(back([1.0, 2.0])[0], [4.0, 8.0])  # not the structure: a batch, as before

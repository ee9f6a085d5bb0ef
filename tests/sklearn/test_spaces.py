"""Converting scikit-learn parameter formats into an evotune space and back."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

import evotune as et
from evotune.sklearn import SUBSPACE, SearchSpace, to_distribution


def test_lists_become_categoricals_numbers_ordered_and_sorted():
    dist, table = to_distribution("C", [10, 0.1, 1, 1])
    assert dist == et.Categorical([0.1, 1, 10], ordered=True)
    assert table is None
    dist, _ = to_distribution("kernel", ("rbf", "linear", None))
    assert dist == et.Categorical(["rbf", "linear", None])
    dist, _ = to_distribution("alpha", np.logspace(-2, 0, 3))
    assert dist == et.Categorical([0.01, 0.1, 1.0], ordered=True)


def test_scipy_distributions_map_onto_floats_and_ints():
    assert to_distribution("C", stats.loguniform(1e-3, 1e2))[0] == et.Float(1e-3, 1e2, log=True)
    assert to_distribution("C", stats.loguniform(1e-3, 1e2, scale=2))[0] == et.Float(2e-3, 2e2, log=True)
    assert to_distribution("l1", stats.uniform(0.1, 0.5))[0] == et.Float(0.1, 0.6)
    # scipy's randint excludes its high bound; evotune's Int includes both.
    assert to_distribution("depth", stats.randint(2, 9))[0] == et.Int(2, 8)
    assert to_distribution("depth", stats.randint(3, 4))[0] == et.Categorical([3])


def test_unsupported_entries_name_the_parameter():
    with pytest.raises(et.SpaceError, match="'gamma'.*norm"):
        to_distribution("gamma", stats.norm())
    with pytest.raises(et.SpaceError, match="'C'.*loc"):
        to_distribution("C", stats.loguniform(1e-3, 1, loc=1))
    with pytest.raises(et.SpaceError, match="'C' must be a list.*got 5"):
        to_distribution("C", 5)
    with pytest.raises(et.SpaceError, match="'C'.*empty"):
        to_distribution("C", [])
    with pytest.raises(et.SpaceError, match="'kernel' must be a list"):
        to_distribution("kernel", "rbf")
    with pytest.raises(et.SpaceError, match="at least one parameter"):
        SearchSpace({})
    with pytest.raises(et.SpaceError, match="reserved"):
        SearchSpace({SUBSPACE: [1, 2]})
    with pytest.raises(et.SpaceError, match=r"param_space\[1\] must be a dict"):
        SearchSpace([{"C": [1]}, "C"])


def test_values_json_cannot_store_are_labelled_and_decoded_to_the_same_objects():
    svc, tree = SVC(), DecisionTreeClassifier()
    space = SearchSpace({"clf": [svc, tree], "hidden": [(50,), (100, 50)]})
    assert space.space["clf"] == et.Categorical(["SVC()", "DecisionTreeClassifier()"])
    assert space.space["hidden"] == et.Categorical(["(50,)", "(100, 50)"])
    _, params = space.decode({"clf": "DecisionTreeClassifier()", "hidden": "(100, 50)"})
    assert params["clf"] is tree and params["hidden"] == (100, 50)


def test_objects_with_the_same_repr_keep_distinct_labels():
    first, second = SVC(), SVC()
    space = SearchSpace({"clf": [first, second]})
    labels = space.space["clf"].choices
    assert len(set(labels)) == 2
    assert space.decode({"clf": labels[1]})[1]["clf"] is second


def test_sub_spaces_share_equal_parameters_and_split_different_ones():
    space = SearchSpace([
        {"kernel": ["linear"], "C": [1, 10]},
        {"kernel": ["rbf"], "C": [1, 10, 100], "gamma": stats.loguniform(1e-4, 1e-1)},
        {"kernel": ["poly"], "C": [1, 10]},
    ])
    names = list(space.space)
    assert names[0] == SUBSPACE and space.space[SUBSPACE] == et.Categorical([0, 1, 2])
    # "C" is [1, 10] in sub-spaces 0 and 2 but [1, 10, 100] in 1: one study parameter each.
    assert {"C#0", "C#1", "C#2", "kernel#0", "kernel#1", "kernel#2", "gamma"} == set(names[1:])
    params = {SUBSPACE: 1, "kernel#0": "linear", "kernel#1": "rbf", "kernel#2": "poly",
              "C#0": 10, "C#1": 100, "C#2": 1, "gamma": 0.01}
    assert space.decode(params) == (1, {"kernel": "rbf", "C": 100, "gamma": 0.01})
    params[SUBSPACE] = 0
    assert space.decode(params) == (0, {"kernel": "linear", "C": 10})
    # Inactive parameters do not change the candidate.
    other = dict(params, **{"C#1": 1, "gamma": 0.001})
    assert space.key(other) == space.key(params)
    assert space.key(dict(params, **{"C#0": 1})) != space.key(params)


def test_a_parameter_equal_in_every_sub_space_is_one_study_parameter():
    space = SearchSpace([{"C": [1, 10], "kernel": ["linear"]}, {"C": [1, 10], "kernel": ["rbf"]}])
    assert set(space.space) == {SUBSPACE, "C", "kernel#0", "kernel#1"}


def test_a_single_dict_list_is_a_plain_space():
    space = SearchSpace([{"C": [1, 10]}])
    assert list(space.space) == ["C"]
    assert space.decode({"C": 10}) == (0, {"C": 10})

"""Converting scikit-learn parameter formats into an evotune space and back."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import Ridge
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

import evotune as et
from evotune.sklearn import SUBSPACE, SearchSpace, TuneSearchCV, to_distribution


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


@pytest.mark.parametrize("name, distribution, text", [
    ("C", stats.uniform(1, 0), "scipy.stats.uniform(1, 0)"),
    ("C", stats.uniform(0, -1), "scipy.stats.uniform(0, -1)"),
    ("C", stats.uniform(0, np.inf), "scipy.stats.uniform(0, inf)"),
    ("C", stats.uniform(loc=0.1, scale=1e-300), "scipy.stats.uniform(loc=0.1, scale=1e-300)"),
    ("C", stats.loguniform(10, 1), "scipy.stats.loguniform(10, 1)"),
    ("C", stats.loguniform(0, 1), "scipy.stats.loguniform(0, 1)"),
    ("n", stats.randint(5, 5), "scipy.stats.randint(5, 5)"),
    ("n", stats.randint(2.5, 9), "scipy.stats.randint(2.5, 9)"),
    ("n", stats.randint(0, 2**70), f"scipy.stats.randint(0, {2**70})"),
    ("n", stats.randint(0, 2**63 + 5), f"scipy.stats.randint(0, {2**63 + 5})"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_degenerate_scipy_distributions_are_space_errors_naming_parameter_and_distribution(
        name, distribution, text):
    with pytest.raises(et.SpaceError) as error:
        to_distribution(name, distribution)
    message = str(error.value)
    assert message.startswith(f"parameter {name!r}: ") and text in message
    assert "support" in message or "cannot become" in message
    assert "needs" in message, "the message says what the distribution needs"


def test_a_degenerate_scipy_distribution_fails_the_search_with_the_same_error():
    search = TuneSearchCV(Ridge(), {"alpha": stats.uniform(1, 0)}, n_trials=2, cv=2)
    with pytest.raises(et.SpaceError, match=r"parameter 'alpha': scipy.stats.uniform\(1, 0\) .* \(nan, nan\)"):
        search.fit(np.arange(20.0).reshape(10, 2), np.arange(10.0))


def test_equal_numbers_are_one_choice_keeping_the_first_type():
    dist, _ = to_distribution("C", [1, 1.0, 2])
    assert [type(c) for c in dist.choices] == [int, int]
    dist, _ = to_distribution("C", [1.0, 2, 1])
    assert dist.choices == (1.0, 2) and [type(c) for c in dist.choices] == [float, int]
    dist, _ = to_distribution("C", [np.int64(1), 1.0, np.float64(0.5)])
    assert dist == et.Categorical([0.5, 1], ordered=True) and type(dist.choices[1]) is int
    dist, _ = to_distribution("C", np.array([0.1, 0.10, 1.0]))
    assert dist.choices == (0.1, 1.0)
    # Python compares int and float exactly: 2**53 + 1 is not the float 2**53.
    assert len(to_distribution("n", [2**53 + 1, 2.0**53])[0].choices) == 2


def test_booleans_strings_none_and_objects_are_not_merged_with_numbers():
    dist, table = to_distribution("flag", [True, 1, 1.0, False, 0, 0.0])
    assert dist.choices == (True, 1, False, 0) and table is None
    assert [type(c) for c in dist.choices] == [bool, int, bool, int]
    dist, _ = to_distribution("kernel", [None, "1", 1, 1.0, None, "1"])
    assert dist.choices == (None, "1", 1)
    svc = SVC()
    dist, table = to_distribution("step", [svc, 1, 1.0, "passthrough", None, svc])
    assert dist.choices == ("SVC()", "1", "'passthrough'", "None")
    assert table["SVC()"] is svc and table["1"] == 1 and table["'passthrough'"] == "passthrough"


def _identity(X):
    return X


class _Plain:
    """An object whose repr holds its memory address."""


def test_labels_of_functions_classes_and_plain_objects_hold_no_memory_address():
    # A label with an address changes at every run, and the stored study could not be resumed.
    plain = _Plain()
    space = SearchSpace({"func": [_identity, np.log1p, functools.partial(_identity)], "kind": [SVC, plain]})
    assert space.space["func"].choices[:2] == (f"{__name__}._identity", "numpy.log1p")
    assert space.space["kind"].choices[0] == "sklearn.svm._classes.SVC"
    assert not any(" at 0x" in label for name in ("func", "kind") for label in space.space[name].choices)
    _, params = space.decode({"func": f"{__name__}._identity", "kind": space.space["kind"].choices[1]})
    assert params["func"] is _identity and params["kind"] is plain

"""The lineage of an evolutionary study, built from generation and parents alone."""

from __future__ import annotations

import pytest

import evotune as et
from evotune.exceptions import ConfigError
from evotune.plot import has_lineage, lineage_data
from evotune.storage import MemoryStorage
from evotune.trial import Trial, TrialState

from .studies import evolution_study, random_study


@pytest.fixture
def evolved(storage):
    return evolution_study(storage)


def test_nodes_edges_and_generations_come_from_the_stored_trials(evolved):
    study, members = evolved
    data = lineage_data(study.trials, "minimize")
    assert data["generations"] == [0, 1, 2, 3]
    by_number = {node["number"]: node for node in data["nodes"]}
    assert len(by_number) == 20
    for generation, numbers in members.items():
        assert {by_number[n]["generation"] for n in numbers} == {generation}
        # ranks inside a generation: 0..k-1, best (lowest value) first, failed last
        ranks = sorted(by_number[n]["rank"] for n in numbers)
        assert ranks == list(range(len(numbers)))
    first_child = members[1][0]
    assert by_number[first_child]["parents"] == [members[0][0]]
    assert [members[0][0], first_child] in data["edges"]
    assert len(data["edges"]) == sum(len(node["parents"]) for node in data["nodes"])
    failed = members[2][-1]
    assert by_number[failed]["state"] == "FAILED" and by_number[failed]["value"] is None
    assert by_number[failed]["rank"] == 4


def test_the_best_path_runs_from_a_first_ancestor_to_the_best_trial(evolved):
    study, members = evolved
    path = lineage_data(study.trials, "minimize")["best_path"]
    assert path[-1] == study.best.number == members[3][0]
    assert path == [members[0][0], members[1][0], members[2][0], members[3][0]]
    numbers = {t.number: t for t in study.trials}
    for parent, child in zip(path, path[1:]):
        assert parent in numbers[child].parents


def test_the_best_path_takes_the_better_parent():
    a = Trial(0, {}, TrialState.COMPLETE, value=5.0, generation=0)
    b = Trial(1, {}, TrialState.COMPLETE, value=1.0, generation=0)
    child = Trial(2, {}, TrialState.COMPLETE, value=0.5, generation=1, parents=(0, 1))
    assert lineage_data([a, b, child], "minimize")["best_path"] == [1, 2]
    assert lineage_data([a, b, child], "maximize")["best_path"] == [0]


def test_a_missing_generation_is_inferred_from_the_parents():
    trials = [Trial(0, {}, TrialState.COMPLETE, value=3.0, generation=0),
              Trial(1, {}, TrialState.COMPLETE, value=2.0, parents=(0,)),
              Trial(2, {}, TrialState.COMPLETE, value=1.0, parents=(1, 0)),
              Trial(3, {}, TrialState.COMPLETE, value=4.0),
              Trial(4, {}, TrialState.COMPLETE, value=0.5, parents=(99,))]  # parent not in the study
    data = lineage_data(trials, "minimize")
    assert [n["generation"] for n in data["nodes"]] == [0, 1, 2, 0, 0]
    assert data["nodes"][4]["parents"] == []
    assert data["edges"] == [[0, 1], [1, 2], [0, 2]]


def test_a_study_without_lineage_is_refused_with_a_clear_message():
    study = random_study(10)
    assert not has_lineage(study.trials)
    with pytest.raises(ConfigError, match="lineage needs trials with a generation or parents"):
        lineage_data(study.trials, "minimize")


def test_lineage_of_a_study_run_by_ask_and_tell():
    study = et.Study({"x": et.Float(0.0, 1.0)}, strategy=et.ManualSearch(), storage=MemoryStorage(), name="tell")
    sid = study.storage.load_study("tell").study_id
    root = study.storage.create_trial(sid, {"x": 0.5}, TrialState.RUNNING, generation=0, origin="initial")
    study.tell(root.number, 2.0)
    kid = study.storage.create_trial(sid, {"x": 0.4}, TrialState.RUNNING, generation=1, parents=(root.number,),
                                     origin="mutation")
    study.tell(kid.number, 1.0)
    data = lineage_data(study.trials, "minimize")
    assert data["best_path"] == [root.number, kid.number]
    assert [n["origin"] for n in data["nodes"]] == ["initial", "mutation"]

"""Bad input through the Python API: the right error, a message naming the field and the value, nothing written.

Every case runs against a study that already holds trials (three complete, one running, one
queued) in SQLite and in PostgreSQL. The database is dumped with plain SQL before and after
the call, and the dumps must be equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import evotune as et
from evotune.strategies import strategy_from_config
from tests.conftest import POSTGRES_URL, clean_postgres
from tests.reliability.storage_dump import dump

SPACE = {
    "lr": et.Float(1e-4, 1e-1, log=True),
    "dropout": et.Float(0.0, 0.5, step=0.1),
    "depth": et.Int(2, 6),
    "act": et.Categorical(["relu", "tanh"]),
}
GOOD = {"lr": 1e-3, "dropout": 0.2, "depth": 3, "act": "relu"}
NAME = "mlp"


@dataclass(frozen=True)
class Scene:
    """The study every case runs against, and what it needs to act."""

    study: et.Study
    url: str
    running: int  # number of the RUNNING trial
    done: int  # number of a COMPLETE trial


@dataclass(frozen=True)
class Case:
    id: str
    action: Callable[[Scene], Any]
    error: type[BaseException]
    words: tuple[str, ...]  # the field and the value, as the message must show them


def _new_study(scene: Scene, space: Any, **options: Any) -> et.Study:
    return et.Study(space, storage=scene.url, name="other", **options)


def _resume(scene: Scene, **changes: Any) -> et.Study:
    settings: dict[str, Any] = {"direction": "maximize", "metric": "accuracy"}
    settings.update(changes)
    space = settings.pop("space", SPACE)
    return et.Study(space, storage=scene.url, name=NAME, **settings)


def _optimize(scene: Scene, **options: Any) -> Any:
    arguments: dict[str, Any] = {"max_trials": 100}
    arguments.update(options)
    return scene.study.optimize(lambda params: 0.5, **arguments)


def _space(**parameter: Any) -> Callable[[Scene], Any]:
    return lambda scene: _new_study(scene, parameter)


def _add(params: Any = None, result: Any = 0.9, **changes: Any) -> Callable[[Scene], Any]:
    return lambda scene: scene.study.add(params if params is not None else {**GOOD, **changes}, result)


CASES = [
    # -- distributions: bounds, types, log and step rules
    Case("float-low-above-high", lambda s: et.Float(0.1, 0.01), et.SpaceError, ("low", "0.1", "0.01")),
    Case("float-infinite-bound", lambda s: et.Float(0.0, float("inf")), et.SpaceError, ("high", "inf")),
    Case("float-nan-bound", lambda s: et.Float(float("nan"), 1.0), et.SpaceError, ("low", "nan")),
    Case("float-text-bound", lambda s: et.Float("0", 1.0), et.SpaceError, ("low", "'0'")),
    Case("float-log-nonpositive-low", lambda s: et.Float(0.0, 1.0, log=True), et.SpaceError, ("log=True", "low=0.0")),
    Case("float-step-zero", lambda s: et.Float(0.0, 1.0, step=0), et.SpaceError, ("step", "0")),
    Case("float-step-negative", lambda s: et.Float(0.0, 1.0, step=-0.1), et.SpaceError, ("step", "-0.1")),
    Case("float-step-wider-than-range", lambda s: et.Float(0.0, 1.0, step=2.5), et.SpaceError, ("step", "2.5")),
    Case("float-log-with-step", lambda s: et.Float(1.0, 2.0, log=True, step=0.5), et.SpaceError, ("log=True", "step")),
    Case("float-log-not-bool", lambda s: et.Float(1.0, 2.0, log="yes"), et.SpaceError, ("log", "'yes'")),
    Case("float-unknown-keyword", lambda s: et.Float(0.0, 1.0, logg=True), et.SpaceError, ("logg", "True")),
    Case("int-fractional-bound", lambda s: et.Int(0.5, 3), et.SpaceError, ("low", "0.5")),
    Case("int-bool-bound", lambda s: et.Int(0, True), et.SpaceError, ("high", "True")),
    Case("int-log-low-below-one", lambda s: et.Int(0, 8, log=True), et.SpaceError, ("log=True", "low=0")),
    Case("int-step-zero", lambda s: et.Int(0, 8, step=0), et.SpaceError, ("step", "0")),
    Case("int-step-wider-than-range", lambda s: et.Int(0, 8, step=9), et.SpaceError, ("step", "9")),
    Case("categorical-empty", lambda s: et.Categorical([]), et.SpaceError, ("choices", "[]")),
    Case("categorical-duplicates", lambda s: et.Categorical(["relu", "tanh", "relu"]), et.SpaceError,
         ("unique", '"relu"')),
    Case("categorical-unstorable", lambda s: et.Categorical(["relu", 1j]), et.SpaceError, ("choices", "1j")),
    Case("categorical-nan", lambda s: et.Categorical([0.1, float("nan")]), et.SpaceError, ("choices", "nan")),
    Case("categorical-text-not-list", lambda s: et.Categorical("relu"), et.SpaceError, ("choices", "'relu'")),
    # -- spaces and study settings (each would create a new study: nothing may be written)
    Case("space-empty", lambda s: _new_study(s, {}), et.SpaceError, ("at least one parameter", "empty dict")),
    Case("space-not-a-distribution", _space(lr=(0.0, 1.0)), et.SpaceError, ("'lr'", "(0.0, 1.0)")),
    Case("space-name-not-text", lambda s: _new_study(s, {3: et.Int(0, 1)}), et.SpaceError, ("names", "3")),
    Case("direction-unknown", lambda s: _new_study(s, SPACE, direction="max"), et.ConfigError,
         ("direction", "'max'")),
    Case("metric-not-text", lambda s: _new_study(s, SPACE, metric=3), et.ConfigError, ("metric", "3")),
    Case("strategy-given-as-text", lambda s: _new_study(s, SPACE, strategy="random"), et.ConfigError,
         ("strategy", "'random'")),
    Case("strategy-seed-negative", lambda s: et.RandomSearch(seed=-1), et.ConfigError, ("seed", "-1")),
    Case("grid-points-one", lambda s: et.GridSearch(points=1), et.ConfigError, ("points", "1")),
    Case("evolution-population-zero", lambda s: et.EvolutionarySearch(population_size=0), et.ConfigError,
         ("population_size", "0")),
    Case("evolution-mode-unknown", lambda s: et.EvolutionarySearch(mode="fast"), et.ConfigError,
         ("mode", "'fast'")),
    Case("strategy-type-unknown", lambda s: strategy_from_config({"type": "annealing"}), et.ConfigError,
         ("type", "'annealing'")),
    Case("strategy-option-unknown", lambda s: strategy_from_config({"type": "random", "sed": 1}), et.ConfigError,
         ("sed",)),
    Case("study-name-blank", lambda s: et.Study(SPACE, storage=s.url, name="  "), et.ConfigError, ("name", "'  '")),
    # -- resuming with other settings
    Case("resume-other-direction", lambda s: _resume(s, direction="minimize"), et.StudyConflictError,
         ("direction", "'maximize'", "'minimize'")),
    Case("resume-other-metric", lambda s: _resume(s, metric="loss"), et.StudyConflictError, ("metric", "'loss'")),
    Case("resume-other-space", lambda s: _resume(s, space={**SPACE, "depth": et.Int(2, 8)}),
         et.StudyConflictError, ("space", "Int(2, 8)")),
    Case("load-unknown-study", lambda s: et.Study.load("nope", s.url), et.StudyNotFoundError, ("'nope'",)),
    # -- optimize options
    Case("optimize-max-trials-zero", lambda s: _optimize(s, max_trials=0), et.ConfigError, ("max_trials", "0")),
    Case("optimize-max-trials-text", lambda s: _optimize(s, max_trials="10"), et.ConfigError,
         ("max_trials", "'10'")),
    Case("optimize-n-jobs-zero", lambda s: _optimize(s, n_jobs=0), et.ConfigError, ("n_jobs", "0")),
    Case("optimize-timeout-negative", lambda s: _optimize(s, timeout=-5), et.ConfigError, ("timeout", "-5")),
    Case("optimize-target-nan", lambda s: _optimize(s, target=float("nan")), et.ConfigError, ("target", "nan")),
    Case("optimize-patience-zero", lambda s: _optimize(s, patience=0), et.ConfigError, ("patience", "0")),
    Case("optimize-retries-negative", lambda s: _optimize(s, retries=-1), et.ConfigError, ("retries", "-1")),
    Case("optimize-grace-too-short", lambda s: _optimize(s, heartbeat_interval=1.0, grace_period=1.5),
         et.ConfigError, ("grace_period", "1.5")),
    Case("optimize-option-unknown", lambda s: _optimize(s, n_job=2), et.ConfigError, ("n_job", "2", "n_jobs")),
    Case("optimize-objective-not-callable", lambda s: s.study.optimize("train.py", max_trials=1), et.ConfigError,
         ("objective", "'train.py'")),
    # -- add: parameters outside the space
    Case("add-above-bound", _add(lr=0.5), et.ParamsError, ("'lr'", "0.5")),
    Case("add-off-step", _add(dropout=0.25), et.ParamsError, ("'dropout'", "0.25")),
    Case("add-fractional-int", _add(depth=3.5), et.ParamsError, ("'depth'", "3.5")),
    Case("add-bool-for-int", _add(depth=True), et.ParamsError, ("'depth'", "True")),
    Case("add-unknown-choice", _add(act="gelu"), et.ParamsError, ("'act'", "'gelu'")),
    Case("add-text-for-float", _add(lr="0.001"), et.ParamsError, ("'lr'", "'0.001'")),
    Case("add-nan-param", _add(lr=float("nan")), et.ParamsError, ("'lr'", "nan")),
    Case("add-missing-param", _add({k: v for k, v in GOOD.items() if k != "depth"}), et.ParamsError, ("'depth'",)),
    Case("add-extra-param", _add({**GOOD, "units": 64}), et.ParamsError, ("'units'",)),
    Case("add-params-not-dict", _add([1e-3, 0.2, 3, "relu"]), et.ParamsError, ("dict", "[0.001, 0.2, 3, 'relu']")),
    # -- add: results that cannot be recorded
    Case("add-result-nan", _add(GOOD, float("nan")), et.ResultError, ("'accuracy'", "nan")),
    Case("add-result-inf", _add(GOOD, float("-inf")), et.ResultError, ("'accuracy'", "-inf")),
    Case("add-result-text", _add(GOOD, "0.9"), et.ResultError, ("'0.9'", "str")),
    Case("add-result-none", _add(GOOD, None), et.ResultError, ("None",)),
    Case("add-result-missing-metric", _add(GOOD, {"loss": 0.3}), et.ResultError, ("'accuracy'", "loss")),
    Case("add-result-non-numeric-metric", _add(GOOD, {"accuracy": "high"}), et.ResultError,
         ("'accuracy'", "'high'")),
    Case("add-result-metric-nan", _add(GOOD, {"accuracy": 0.9, "loss": float("nan")}), et.ResultError,
         ("'loss'", "nan")),
    Case("add-result-empty-dict", _add(GOOD, {}), et.ResultError, ("empty dict",)),
    Case("add-result-list", _add(GOOD, [0.9]), et.ResultError, ("'accuracy'", "[0.9]")),
    # -- enqueue
    Case("enqueue-below-bound", lambda s: s.study.enqueue({**GOOD, "depth": 1}), et.ParamsError, ("'depth'", "1")),
    Case("enqueue-missing-param", lambda s: s.study.enqueue({"lr": 1e-3}), et.ParamsError, ("'dropout'",)),
    # -- tell
    Case("tell-result-text", lambda s: s.study.tell(s.running, "good"), et.ResultError, ("'good'",)),
    Case("tell-result-missing-metric", lambda s: s.study.tell(s.running, {"loss": 0.2}), et.ResultError,
         ("'accuracy'", "loss")),
    Case("tell-unknown-trial", lambda s: s.study.tell(999, 0.5), et.TrialStateError, ("999",)),
    Case("tell-finished-trial", lambda s: s.study.tell(s.done, 0.5), et.TrialStateError, ("COMPLETE",)),
    Case("tell-trial-not-a-number", lambda s: s.study.tell("3", 0.5), et.ConfigError, ("trial", "'3'")),
]


def _scene(url: str) -> Scene:
    study = et.Study(SPACE, direction="maximize", metric="accuracy", strategy=et.RandomSearch(seed=0),
                     storage=url, name=NAME)
    done = study.add(GOOD, {"accuracy": 0.8, "loss": 0.4}).number
    study.add({**GOOD, "depth": 4}, 0.85)
    study.optimize(lambda params: 0.5, max_trials=3)
    running = study.ask().number
    study.enqueue({**GOOD, "depth": 5})
    return Scene(study, url, running, done)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=[
    pytest.mark.postgres, pytest.mark.skipif(not POSTGRES_URL, reason="EVOTUNE_TEST_POSTGRES_URL is not set")])])
def scene(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    if request.param == "sqlite":
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('api')) / 'evotune.db'}"
    else:
        url = request.getfixturevalue("postgres_server_url")
        clean_postgres(url)
    scene = _scene(url)
    yield scene
    scene.study.storage.close()


def test_the_cases_are_distinct() -> None:
    assert len({case.id for case in CASES}) == len(CASES) >= 70


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_refused_clearly_and_writes_nothing(case: Case, scene: Scene) -> None:
    before = dump(scene.url)
    with pytest.raises(case.error) as raised:
        case.action(scene)
    assert isinstance(raised.value, et.EvotuneError)  # one root for every error evotune raises on purpose
    message = str(raised.value)
    missing = [word for word in case.words if word not in message]
    assert not missing, f"the message {message!r} does not show {missing}"
    assert dump(scene.url) == before


def test_a_refused_tell_leaves_the_trial_running_so_it_can_be_told_again(scene: Scene) -> None:
    study = et.Study.load(NAME, scene.url)
    trial = study.ask()
    with pytest.raises(et.ResultError):
        study.tell(trial, {"loss": 0.1})
    assert study.trials[trial.number].state is et.TrialState.RUNNING
    assert study.tell(trial, {"accuracy": 0.7}).state is et.TrialState.COMPLETE

"""A search stored with storage= and study_name= resumes without refitting what it evaluated."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_iris, make_regression
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

import evotune as et
from evotune.sklearn import EvolutionarySearchCV, TuneSearchCV, loop
from evotune.sklearn.records import encode_folds
from evotune.sklearn.scoring import SCORERS_KEY
from tests.sklearn.estimators import FITS, Quadratic

SPACE = {"alpha": et.Float(0.0, 1.0)}


@pytest.fixture
def data():
    return make_regression(n_samples=40, n_features=3, random_state=0)


@pytest.fixture
def storage(tmp_path):
    return f"sqlite:///{tmp_path / 'search.db'}"


@pytest.fixture(autouse=True)
def _clear_fits():
    FITS.clear()


def _search(storage, n_trials, estimator=None, **options):
    return TuneSearchCV(estimator or Quadratic(), SPACE, n_trials=n_trials, cv=2, storage=storage,
                        study_name="ridge", random_state=0, **options)


def test_a_longer_budget_evaluates_only_the_new_candidates(data, storage):
    X, y = data
    first = _search(storage, 4).fit(X, y)
    assert len(FITS) == 4 * 2 + 1  # four candidates on two folds, then the refit
    FITS.clear()
    second = _search(storage, 7).fit(X, y)
    assert len(FITS) == 3 * 2 + 1
    results = second.cv_results_
    assert list(results["trial_number"]) == list(range(7))
    assert results["params"][:4] == first.cv_results_["params"]
    np.testing.assert_array_equal(results["mean_test_score"][:4], first.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(results["split1_test_score"][:4], first.cv_results_["split1_test_score"])
    assert second.best_score_ == max(results["mean_test_score"])
    assert len(et.Study.load("ridge", storage).trials) == 7


def test_an_interrupted_fit_resumes_where_it_stopped(data, storage):
    X, y = data
    # The sixth fit is interrupted: candidates 0 and 1 are done, candidate 2 is half-way.
    interrupted = _search(storage, 6, Quadratic(interrupt_at=5))
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(X, y)
    assert interrupted.stop_reason_ == "interrupted"
    trials = et.Study.load("ridge", storage).trials
    assert [t.state for t in trials] == [et.TrialState.COMPLETE] * 2 + [et.TrialState.FAILED]
    assert trials[2].error == "interrupted"
    FITS.clear()
    resumed = _search(storage, 6).fit(X, y)
    assert len(FITS) == 4 * 2 + 1, "the two finished candidates are not refit"
    assert list(resumed.cv_results_["trial_number"]) == [0, 1, 3, 4, 5, 6]
    assert resumed.stop_reason_ == "n_trials reached"


def test_a_resumed_grid_cross_validates_the_candidate_an_interruption_cut_short(data, storage):
    X, y = data
    grid = {"alpha": [0.1, 0.2, 0.3, 0.4, 0.5]}
    options = dict(strategy=et.GridSearch(), n_trials=5, cv=2, storage=storage, study_name="grid")
    with pytest.raises(KeyboardInterrupt):  # the fifth fit: the third candidate's first fold
        TuneSearchCV(Quadratic(interrupt_at=4), grid, **options).fit(X, y)
    resumed = TuneSearchCV(Quadratic(), grid, **options).fit(X, y)
    assert sorted(p["alpha"] for p in resumed.cv_results_["params"]) == grid["alpha"]
    assert resumed.stop_reason_ == "n_trials reached"


def test_a_study_that_holds_the_budget_is_only_rescored_and_refit(data, storage):
    X, y = data
    first = _search(storage, 3).fit(X, y)
    FITS.clear()
    again = _search(storage, 3).fit(X, y)
    assert len(FITS) == 2 + 1  # one cross-validation of the best candidate, then the refit
    assert again.cv_results_["params"] == first.cv_results_["params"]
    assert again.best_params_ == first.best_params_
    assert len(again.study_.trials) == 3


def test_a_trial_left_running_by_a_killed_process_is_failed_and_replaced(data, storage):
    X, y = data
    _search(storage, 2).fit(X, y)
    study = et.Study.load("ridge", storage)
    orphan = study.ask()  # as if a fit died mid-candidate without a chance to record it
    resumed = _search(storage, 4).fit(X, y)
    assert study.storage.get_trials(study._study_id)[orphan.number].state is et.TrialState.FAILED
    assert len(resumed.cv_results_["params"]) == 4
    assert orphan.number not in resumed.cv_results_["trial_number"]


def test_resuming_with_another_cv_is_refused(data, storage):
    X, y = data
    _search(storage, 2).fit(X, y)
    with pytest.raises(et.ConfigError, match="2 folds, this search uses 3"):
        TuneSearchCV(Quadratic(), SPACE, n_trials=4, cv=3, storage=storage, study_name="ridge").fit(X, y)
    with pytest.raises(et.StudyConflictError):
        TuneSearchCV(Quadratic(), {"alpha": et.Float(0.0, 2.0)}, n_trials=4, cv=2, storage=storage,
                     study_name="ridge").fit(X, y)


def test_an_unseeded_strategy_resumes_with_its_stored_seed(data, storage):
    X, y = data
    first = TuneSearchCV(Quadratic(), SPACE, strategy=et.RandomSearch(), n_trials=2, cv=2, storage=storage,
                         study_name="ridge").fit(X, y)
    second = TuneSearchCV(Quadratic(), SPACE, strategy=et.RandomSearch(), n_trials=4, cv=2, storage=storage,
                          study_name="ridge").fit(X, y)
    assert second.study_.strategy.seed == first.study_.strategy.seed
    reference = TuneSearchCV(Quadratic(), SPACE, strategy=et.RandomSearch(seed=first.study_.strategy.seed),
                             n_trials=4, cv=2).fit(X, y)
    assert second.cv_results_["params"] == reference.cv_results_["params"]


def test_an_evolutionary_search_resumes_its_population(storage):
    X, y = make_regression(n_samples=40, n_features=3, random_state=0)
    y = (y > 0).astype(int)
    space = {"C": et.Float(1e-3, 1e2, log=True)}
    options = dict(population_size=3, cv=2, storage=storage, study_name="evo", random_state=0)
    EvolutionarySearchCV(LogisticRegression(), space, n_trials=5, **options).fit(X, y)
    resumed = EvolutionarySearchCV(LogisticRegression(), space, n_trials=9, **options).fit(X, y)
    straight = EvolutionarySearchCV(LogisticRegression(), space, n_trials=9,
                                    **dict(options, storage=None)).fit(X, y)
    assert len(resumed.cv_results_["params"]) == 9
    assert resumed.cv_results_["params"] == straight.cv_results_["params"]
    assert max(resumed.cv_results_["generation"]) >= 1


def _score_of_the_estimator(estimator, X, y):
    return estimator.score(X, y)


def _constant_score(estimator, X, y):
    return -100.0


@pytest.mark.parametrize("first, second, name, described", [
    ({"m": "r2"}, {"m": "neg_mean_absolute_error"}, "m", ("'r2'", "'neg_mean_absolute_error'")),
    (_score_of_the_estimator, _constant_score, "score", ("'_score_of_the_estimator'", "'_constant_score'")),
    (lambda e, X, y: e.score(X, y), lambda e, X, y: -100.0, "score",
     ("\"<lambda> using names ['score'] and constants []\"",
      "\"<lambda> using names [] and constants ['-100.0']\"")),
], ids=["named-scorers", "functions", "lambdas"])
def test_resuming_with_other_scorers_under_the_same_names_is_refused(data, storage, first, second, name,
                                                                      described):
    X, y = data
    refit = "m" if isinstance(first, dict) else True
    _search(storage, 2, scoring=first, refit=refit).fit(X, y)
    FITS.clear()
    with pytest.raises(et.ConfigError, match="resume it with the same scoring") as error:
        _search(storage, 4, scoring=second, refit=refit).fit(X, y)
    message = str(error.value)
    assert f"scorer {name!r} = {described[0]}" in message
    assert f"{name!r} = {described[1]}" in message
    assert FITS == [], "refused before any fit"
    assert len(et.Study.load("ridge", storage).trials) == 2
    resumed = _search(storage, 4, scoring=first, refit=refit).fit(X, y)  # the same scoring resumes
    assert list(resumed.cv_results_["trial_number"]) == [0, 1, 2, 3]


def test_resuming_with_a_scoring_that_optimizes_another_metric_is_a_config_error(data, storage):
    X, y = data
    _search(storage, 2).fit(X, y)  # scoring=None: the study optimizes "score"
    with pytest.raises(et.ConfigError, match=r"study 'ridge' optimizes 'score', but scoring='r2' optimizes 'r2'"):
        _search(storage, 4, scoring="r2").fit(X, y)
    with pytest.raises(et.ConfigError,
                       match=r"scoring=\['r2', 'neg_mean_absolute_error'\], refit='neg_mean_absolute_error' "
                             r"optimizes 'neg_mean_absolute_error'"):
        _search(storage, 4, scoring=["r2", "neg_mean_absolute_error"], refit="neg_mean_absolute_error").fit(X, y)
    assert len(et.Study.load("ridge", storage).trials) == 2
    TuneSearchCV(Quadratic(), SPACE, n_trials=2, cv=2, storage=storage, study_name="r2-study",
                 scoring="r2").fit(X, y)
    with pytest.raises(et.ConfigError, match=r"optimizes 'r2', but scoring=_constant_score optimizes 'score'"):
        TuneSearchCV(Quadratic(), SPACE, n_trials=4, cv=2, storage=storage, study_name="r2-study",
                     scoring=_constant_score).fit(X, y)


def test_a_study_recorded_without_scorer_descriptions_still_resumes(data, storage, monkeypatch):
    X, y = data
    monkeypatch.setattr(loop, "encode_folds", lambda folds, scorers=None: encode_folds(folds))
    _search(storage, 2, scoring="r2").fit(X, y)
    assert all(SCORERS_KEY not in t.attrs["cv"] for t in et.Study.load("ridge", storage).trials)
    monkeypatch.undo()
    resumed = _search(storage, 4, scoring="r2").fit(X, y)
    assert list(resumed.cv_results_["trial_number"]) == [0, 1, 2, 3]
    described = [t.attrs["cv"].get(SCORERS_KEY) for t in resumed.study_.trials]
    assert described == [None, None, {"score": "r2"}, {"score": "r2"}]


class _FlakyClassifier(ClassifierMixin, BaseEstimator):
    """Fails to fit for a < 0; otherwise predicts class 1 for the first a tenths of the rows."""

    def __init__(self, a=0):
        self.a = a

    def fit(self, X, y):
        if self.a < 0:
            raise RuntimeError("bad a")
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        predicted = np.zeros(len(X), int)
        predicted[: int(len(X) * self.a / 10)] = 1
        return predicted


def _two_scores(estimator, X, y):
    predicted = estimator.predict(X)
    return {"acc": accuracy_score(y, predicted), "f1": f1_score(y, predicted, average="macro")}


def test_a_resume_after_a_failed_first_candidate_keeps_a_scorer_that_returns_a_dict(storage):
    X, y = load_iris(return_X_y=True)
    options = dict(strategy=et.GridSearch(), cv=3, scoring=_two_scores, refit="f1", error_score=0.0,
                   storage=storage, study_name="flaky")
    grid = {"a": [-1, 1, 3, 5]}
    with pytest.warns(FitFailedWarning):
        TuneSearchCV(_FlakyClassifier(), grid, n_trials=2, **options).fit(X, y)
    resumed = TuneSearchCV(_FlakyClassifier(), grid, n_trials=4, **options).fit(X, y)
    assert len(resumed.cv_results_["mean_test_f1"]) == 4 and resumed.cv_results_["mean_test_f1"][0] == 0.0


class _OutOfMemory(Quadratic):
    """Runs out of memory (MemoryError) where Quadratic raises ValueError: alpha above fail_above."""

    def fit(self, X, y):
        if self.fail_above is not None and self.alpha > self.fail_above:
            raise MemoryError("out of memory")
        return super().fit(X, y)


@pytest.mark.parametrize("estimator, error", [(Quadratic, ValueError), (_OutOfMemory, MemoryError)],
                         ids=["error_score-raise", "memory-error"])
def test_a_fit_aborted_by_an_error_evaluates_its_whole_batch_again_on_resume(data, storage, estimator, error):
    X, y = data
    grid = {"alpha": [0.1, 0.2, 0.3, 0.4, 0.5]}
    options = dict(strategy=et.GridSearch(), n_trials=None, cv=2, error_score="raise", batch_size=2,
                   storage=storage, study_name="grid")
    # The second batch holds 0.3, which raises, and 0.4, which would not: neither gets a score.
    aborted = TuneSearchCV(estimator(fail_above=0.25), grid, **options)
    with pytest.raises(error):
        aborted.fit(X, y)
    assert aborted.stop_reason_ == f"aborted: {error.__name__}"
    cut_short = [t for t in aborted.study_.trials if t.state is et.TrialState.FAILED]
    assert [t.params["alpha"] for t in cut_short] == [0.3, 0.4]
    assert all(t.error == "interrupted" and error.__name__ in t.attrs["aborted_by"] for t in cut_short)
    resumed = TuneSearchCV(estimator(), grid, **options).fit(X, y)  # the cause fixed
    assert sorted(p["alpha"] for p in resumed.cv_results_["params"]) == grid["alpha"]
    assert resumed.best_params_ == {"alpha": 0.3} and resumed.stop_reason_ == "strategy exhausted"

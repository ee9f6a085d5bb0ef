"""TuneSearchCV and EvolutionarySearchCV behave like scikit-learn's own search classes."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from scipy import stats
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.decomposition import PCA
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression, Ridge, RidgeClassifier
from sklearn.model_selection import GroupKFold, KFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import check_estimator

import evotune as et
from evotune.sklearn import SUBSPACE, EvolutionarySearchCV, TuneSearchCV, loop
from evotune.storage import open_storage
from tests.sklearn.estimators import FITS, Quadratic

#: The checks scikit-learn itself expects GridSearchCV and RandomizedSearchCV to fail.
EXPECTED_FAILED_CHECKS = {"check_supervised_y_2d": "DataConversionWarning not caught"}


@pytest.fixture(scope="module")
def classification():
    return make_classification(n_samples=150, n_features=6, n_informative=4, random_state=0)


@pytest.fixture(autouse=True)
def _clear_fits():
    FITS.clear()


@pytest.mark.parametrize("search", [
    TuneSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=2, error_score="raise", n_trials=2, random_state=0),
    TuneSearchCV(RidgeClassifier(), {"alpha": et.Float(0.1, 10.0, log=True)}, cv=2,
                 error_score="raise", n_trials=2, random_state=0),
    EvolutionarySearchCV(Pipeline([("pca", PCA()), ("ridge", Ridge())]),
                         {"ridge__alpha": stats.loguniform(0.1, 10.0)}, cv=2, error_score="raise",
                         n_trials=3, random_state=0),
], ids=["regressor", "classifier", "evolutionary-pipeline"])
def test_passes_check_estimator(search):
    check_estimator(search, expected_failed_checks=EXPECTED_FAILED_CHECKS)


def test_cv_results_have_sklearn_keys_and_lineage(classification):
    X, y = classification
    search = EvolutionarySearchCV(
        LogisticRegression(), {"C": et.Float(1e-2, 1e2, log=True), "fit_intercept": [True, False]},
        population_size=4, generations=3, cv=3, random_state=0, return_train_score=True,
    ).fit(X, y)
    results = search.cv_results_
    assert len(results["params"]) == 12
    expected = {"params", "param_C", "param_fit_intercept", "mean_test_score", "std_test_score",
                "rank_test_score", "mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time",
                "mean_train_score", "std_train_score", "trial_number", "generation", "parents",
                *(f"split{k}_test_score" for k in range(3)), *(f"split{k}_train_score" for k in range(3))}
    assert set(results) == expected
    for key, column in results.items():
        assert len(column) == 12, key
    trials = search.study_.trials
    assert list(results["trial_number"]) == [t.number for t in trials]
    for row, trial in enumerate(trials):
        assert results["params"][row] == trial.params
        assert results["mean_test_score"][row] == pytest.approx(trial.value)
        assert results["mean_train_score"][row] == pytest.approx(trial.metrics["train_score"])
        assert results["generation"][row] == trial.generation
        assert results["parents"][row] == trial.parents
        assert all(parent < trial.number for parent in trial.parents)
    assert any(results["parents"][row] for row in range(12)), "children must name their parents"
    assert search.best_score_ == pytest.approx(max(results["mean_test_score"]))
    assert search.best_params_ == search.study_.best.params
    assert search.stop_reason_ == "n_trials reached"
    assert search.study_.strategy.name == "evolution"


@pytest.mark.parametrize("scoring", ["accuracy", "roc_auc", "f1", "f1_macro", "neg_log_loss", "balanced_accuracy"])
def test_scorer_names_are_the_study_metric(classification, scoring):
    X, y = classification
    search = TuneSearchCV(LogisticRegression(), {"C": et.Float(1e-2, 1e2, log=True)}, n_trials=4, cv=3,
                          scoring=scoring, random_state=0).fit(X, y)
    assert search.study_.metric == scoring
    assert search.study_.direction == "maximize"
    assert search.study_.best.value == pytest.approx(search.best_score_)
    assert all(set(t.metrics) == {scoring} for t in search.study_.trials)
    if scoring == "neg_log_loss":
        assert search.best_score_ < 0


def test_regression_scorer_and_callable_scoring():
    X, y = make_regression(n_samples=80, n_features=4, noise=5.0, random_state=0)
    search = TuneSearchCV(Ridge(), {"alpha": stats.loguniform(1e-3, 1e3)}, n_trials=4, cv=3,
                          scoring="r2", random_state=0).fit(X, y)
    assert search.study_.metric == "r2" and 0.5 < search.best_score_ <= 1

    def negative_error(estimator, X, y):
        return -float(np.mean(np.abs(estimator.predict(X) - y)))

    search = TuneSearchCV(Ridge(), {"alpha": stats.loguniform(1e-3, 1e3)}, n_trials=4, cv=3,
                          scoring=negative_error, random_state=0).fit(X, y)
    assert search.study_.metric == "score"
    assert search.best_score_ == pytest.approx(max(search.cv_results_["mean_test_score"]))


def test_multi_metric_refit_on_a_named_scorer(classification):
    X, y = classification
    search = TuneSearchCV(
        LogisticRegression(), {"C": et.Float(1e-3, 1e2, log=True)}, n_trials=6, cv=3, random_state=0,
        scoring={"acc": "accuracy", "auc": "roc_auc", "f1": "f1_macro"}, refit="auc",
    ).fit(X, y)
    results = search.cv_results_
    assert {"mean_test_acc", "rank_test_auc", "split2_test_f1"} <= set(results)
    assert search.best_index_ == int(np.argmax(results["mean_test_auc"]))
    assert search.best_score_ == pytest.approx(results["mean_test_auc"][search.best_index_])
    assert search.study_.metric == "auc"
    for row, trial in enumerate(search.study_.trials):
        assert set(trial.metrics) == {"acc", "auc", "f1"}
        assert trial.metrics["f1"] == pytest.approx(results["mean_test_f1"][row])
        assert trial.value == trial.metrics["auc"]
    assert hasattr(search, "best_estimator_") and search.predict(X).shape == y.shape


def test_multi_metric_without_refit_optimizes_the_first_scorer(classification):
    X, y = classification
    search = TuneSearchCV(LogisticRegression(), {"C": et.Float(1e-3, 1e2, log=True)}, n_trials=3, cv=2,
                          scoring=["accuracy", "roc_auc"], refit=False, random_state=0).fit(X, y)
    assert search.study_.metric == "accuracy"
    assert not hasattr(search, "best_estimator_")
    with pytest.raises(ValueError, match="refit"):
        TuneSearchCV(LogisticRegression(), {"C": [1.0]}, scoring=["accuracy", "roc_auc"]).fit(X, y)


def test_pipelines_clone_and_nested_params(classification):
    X, y = classification
    search = TuneSearchCV(make_pipeline(StandardScaler(), SVC()),
                          {"svc__C": stats.loguniform(1e-2, 1e2), "svc__kernel": ["rbf", "linear"]},
                          n_trials=5, cv=3, random_state=0)
    params = search.get_params(deep=True)
    assert params["estimator__svc__C"] == 1.0 and params["n_trials"] == 5
    search.set_params(estimator__svc__gamma=0.1, n_trials=4)
    copy = clone(search)
    assert copy.get_params()["estimator__svc__gamma"] == 0.1 and copy.n_trials == 4
    copy.fit(X, y)
    assert len(copy.cv_results_["params"]) == 4
    assert copy.best_estimator_.named_steps["svc"].C == copy.best_params_["svc__C"]
    assert copy.best_estimator_.named_steps["svc"].gamma == 0.1
    assert not hasattr(search, "cv_results_"), "clone must leave the original unfitted"


def test_scipy_distributions_are_sampled_within_their_support(classification):
    X, y = classification
    search = TuneSearchCV(
        DecisionTreeClassifier(random_state=0),
        {"max_depth": stats.randint(1, 4), "min_impurity_decrease": stats.uniform(0.0, 0.05),
         "ccp_alpha": stats.loguniform(1e-4, 1e-2)},
        n_trials=25, cv=2, random_state=0,
    ).fit(X, y)
    params = search.cv_results_["params"]
    assert {p["max_depth"] for p in params} == {1, 2, 3}, "randint(1, 4) never draws its high bound"
    assert all(0.0 <= p["min_impurity_decrease"] <= 0.05 for p in params)
    assert all(1e-4 <= p["ccp_alpha"] <= 1e-2 for p in params)


def test_sub_spaces_pass_only_active_parameters(classification):
    X, y = classification
    search = TuneSearchCV(SVC(), [
        {"kernel": ["linear"], "C": [0.1, 1.0]},
        {"kernel": ["rbf"], "C": [0.1, 1.0, 10.0], "gamma": stats.loguniform(1e-3, 1e-1)},
    ], n_trials=12, cv=2, random_state=0).fit(X, y)
    results = search.cv_results_
    assert set(results["subspace"]) == {0, 1}
    for row, params in enumerate(results["params"]):
        if results["subspace"][row] == 0:
            assert set(params) == {"kernel", "C"} and params["kernel"] == "linear"
            assert results["param_gamma"].mask[row]
        else:
            assert set(params) == {"kernel", "C", "gamma"} and params["kernel"] == "rbf"
    keys = [tuple(sorted(p.items())) for p in results["params"]]
    assert len(keys) == len(set(keys)), "a candidate is never cross-validated twice"
    assert all(SUBSPACE in t.params for t in search.study_.trials)


def test_sub_spaces_exhaust_a_small_discrete_space(classification):
    X, y = classification
    search = TuneSearchCV(SVC(), [{"kernel": ["linear"], "C": [0.1, 1.0]}, {"kernel": ["rbf"], "C": [1.0, 10.0]}],
                          n_trials=20, cv=2, random_state=0, batch_size=3).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.stop_reason_ == "strategy exhausted"
    trials = search.study_.trials
    assert all(t.state.finished for t in trials)
    # Proposals differing only in the inactive "C" of the other sub-space are told the result
    # of the candidate they repeat, without another fit.
    repeats = [t for t in trials if "duplicate_of" in t.attrs]
    assert len(repeats) == len(trials) - 4 > 0
    for trial in repeats:
        assert trial.value == trials[trial.attrs["duplicate_of"]].value


@pytest.mark.parametrize("strategy", [et.GridSearch(), et.GridSearch(shuffle=True, seed=0)],
                         ids=["failure-last", "failure-inside"])
def test_failed_fits_follow_error_score(strategy):
    X, y = make_regression(n_samples=40, n_features=3, random_state=0)
    space = {"alpha": [0.1, 0.2, 0.5, 0.9]}
    options = dict(n_trials=4, cv=2, strategy=strategy)
    with pytest.warns(FitFailedWarning, match="fit"):
        search = TuneSearchCV(Quadratic(fail_above=0.6), space, **options).fit(X, y)
    assert len(search.cv_results_["params"]) == 4 and len(search.study_.trials) == 4
    row = search.cv_results_["params"].index({"alpha": 0.9})
    assert math.isnan(search.cv_results_["mean_test_score"][row])
    assert search.cv_results_["rank_test_score"][row] == 4
    failed = search.study_.trials[search.cv_results_["trial_number"][row]]
    assert failed.state is et.TrialState.FAILED and "alpha=0.9 is too large" in failed.error
    assert search.best_params_ == {"alpha": 0.2}

    with pytest.warns(FitFailedWarning, match="fit"):
        search = TuneSearchCV(Quadratic(fail_above=0.6), space, error_score=-5.0, **options).fit(X, y)
    row = search.cv_results_["params"].index({"alpha": 0.9})
    assert search.cv_results_["mean_test_score"][row] == -5.0
    trial = search.study_.trials[search.cv_results_["trial_number"][row]]
    assert trial.state is et.TrialState.COMPLETE and trial.value == -5.0

    search = TuneSearchCV(Quadratic(fail_above=0.6), space, error_score="raise", **options)
    with pytest.raises(ValueError, match="too large"):
        search.fit(X, y)
    assert search.study_.trials[-1].state is et.TrialState.FAILED, "no trial is left RUNNING"


def test_a_search_whose_every_fit_fails_raises_like_scikit_learn():
    X, y = make_regression(n_samples=40, n_features=3, random_state=0)
    with pytest.warns(FitFailedWarning), pytest.raises(ValueError, match="all 4 fits failed"):
        TuneSearchCV(Quadratic(fail_above=0.0), {"alpha": [0.5, 0.9]}, n_trials=2, cv=2).fit(X, y)


def test_stopping_criteria(classification):
    X, y = make_regression(n_samples=30, n_features=2, random_state=0)
    space = {"alpha": et.Float(0.0, 1.0)}
    # fail_above=100..200 never triggers: every candidate scores the same.
    flat = TuneSearchCV(Quadratic(), {"fail_above": et.Float(100.0, 200.0)}, n_trials=40, cv=2,
                        patience=3, random_state=0).fit(X, y)
    assert flat.stop_reason_ == "patience exhausted"
    assert len(flat.cv_results_["params"]) == 1 + 3  # the first sets the best, three fail to beat it

    reached = TuneSearchCV(Quadratic(), space, n_trials=200, cv=2, target=-0.01, random_state=0).fit(X, y)
    assert reached.stop_reason_ == "target reached" and reached.best_score_ >= -0.01
    assert len(reached.cv_results_["params"]) < 200

    timed = TuneSearchCV(Quadratic(), space, n_trials=None, cv=2, timeout=0.3, random_state=0).fit(X, y)
    assert timed.stop_reason_ == "timeout" and len(timed.cv_results_["params"]) >= 1

    with pytest.raises(et.ConfigError, match="n_trials=None"):
        TuneSearchCV(Quadratic(), space, n_trials=None, cv=2).fit(X, y)
    with pytest.raises(ValueError, match="'n_trials' parameter of TuneSearchCV must be"):
        TuneSearchCV(Quadratic(), space, n_trials=0).fit(X, y)
    with pytest.raises(ValueError, match="'timeout' parameter"):
        TuneSearchCV(Quadratic(), space, timeout=-1).fit(X, y)


def test_groups_reach_the_splitter_and_every_candidate_sees_the_same_folds():
    X, y = make_regression(n_samples=40, n_features=3, noise=1.0, random_state=0)
    groups = np.repeat(np.arange(4), 10)
    TuneSearchCV(Quadratic(), {"alpha": et.Float(0.0, 1.0)}, n_trials=2, cv=GroupKFold(4),
                 random_state=0).fit(X, y, groups=groups)
    assert {n_samples for _, n_samples in FITS[:-1]} == {30}, "each fold trains on three groups"
    # A shuffling splitter without a seed would split differently at each batch; these solvers
    # reach the same solution, so equal fold scores show every candidate met the same folds.
    search = TuneSearchCV(Ridge(), {"solver": ["svd", "cholesky", "lsqr"]}, n_trials=3,
                          cv=KFold(3, shuffle=True), random_state=0).fit(X, y)
    for k in range(3):
        np.testing.assert_allclose(search.cv_results_[f"split{k}_test_score"],
                                   search.cv_results_[f"split{k}_test_score"][0], rtol=1e-6)


def test_grid_strategy_runs_to_exhaustion_with_no_trial_limit():
    X, y = make_regression(n_samples=30, n_features=2, random_state=0)
    search = TuneSearchCV(Quadratic(), {"alpha": [0.1, 0.3, 0.5], "best": [0.3, 0.5]},
                          strategy=et.GridSearch(), n_trials=None, cv=2).fit(X, y)
    assert len(search.cv_results_["params"]) == 6 and search.stop_reason_ == "strategy exhausted"


def test_random_state_makes_the_search_reproducible_without_touching_the_strategy(classification):
    X, y = classification
    strategy = et.RandomSearch()
    config = strategy.to_config()
    runs = [TuneSearchCV(LogisticRegression(), {"C": et.Float(1e-3, 1e2, log=True)}, strategy=strategy,
                         n_trials=4, cv=2, random_state=7).fit(X, y) for _ in range(2)]
    assert runs[0].cv_results_["params"] == runs[1].cv_results_["params"]
    assert runs[0].study_.strategy.seed == 7
    assert strategy.to_config() == config and runs[0].strategy is strategy


def test_parallel_batches_fill_the_workers(classification, capsys):
    X, y = classification
    search = TuneSearchCV(LogisticRegression(), {"C": et.Float(1e-3, 1e2, log=True)}, n_trials=5, cv=5,
                          n_jobs=2, random_state=0, verbose=1).fit(X, y)
    assert len(search.cv_results_["params"]) == 5
    # 2 workers, 5 folds: two candidates per call keep both workers busy (10 fits).
    printed = capsys.readouterr().out
    assert printed.count("Fitting 5 folds for each of 2 candidates") == 2
    assert printed.count("Fitting 5 folds for each of 1 candidates") == 1
    serial = TuneSearchCV(LogisticRegression(), {"C": et.Float(1e-3, 1e2, log=True)}, n_trials=5, cv=5,
                          random_state=0).fit(X, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"])


def test_dask_backend_runs_the_fits(classification):
    distributed = pytest.importorskip("distributed")
    from joblib import parallel_backend

    X, y = classification
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        with parallel_backend("dask"):
            search = TuneSearchCV(LogisticRegression(), {"C": et.Float(1e-3, 1e2, log=True)}, n_trials=4,
                                  cv=3, n_jobs=-1, random_state=0).fit(X, y)
        tasks = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.task_prefixes))
    assert len(search.cv_results_["params"]) == 4
    assert tasks > 0


def test_fitted_search_pickles_with_its_study(classification):
    X, y = classification
    search = TuneSearchCV(LogisticRegression(), {"C": et.Float(1e-3, 1e2, log=True)}, n_trials=3, cv=2,
                          random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(search))
    assert len(restored.study_.trials) == 3
    np.testing.assert_array_equal(restored.predict(X), search.predict(X))


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_storage_object_is_shared_by_clones_and_still_pickles(tmp_path, kind):
    storage = open_storage(None if kind == "memory" else f"sqlite:///{tmp_path / 'search.db'}")
    search = TuneSearchCV(Quadratic(), {"alpha": et.Float(0.0, 1.0)}, n_trials=2, cv=2, random_state=0,
                          storage=storage)
    assert clone(search).storage is storage
    X, y = make_regression(n_samples=40, n_features=3, random_state=0)
    cross_val_score(search, X, y, cv=2)  # fits two clones of the search
    studies = storage.list_studies()
    assert len(studies) == 2 and [s.n_trials for s in studies] == [2, 2]
    restored = pickle.loads(pickle.dumps(storage))  # a snapshot (memory) or the same database (SQL)
    assert restored is not storage
    assert sorted(s.name for s in restored.list_studies()) == sorted(s.name for s in studies)


def test_equal_numbers_in_a_list_are_cross_validated_once():
    X, y = make_regression(n_samples=40, n_features=3, random_state=0)
    search = TuneSearchCV(Quadratic(), {"alpha": [1, 1.0, np.float64(2.0), np.int64(2), 0.5]}, n_trials=5,
                          cv=2, random_state=0).fit(X, y)
    assert sorted(p["alpha"] for p in search.cv_results_["params"]) == [0.5, 1, 2]
    assert len(FITS) == 3 * 2 + 1
    assert search.stop_reason_ == "strategy exhausted"


def test_evolutionary_search_maps_generations_onto_the_budget(classification):
    X, y = classification
    space = {"C": et.Float(1e-3, 1e2, log=True)}
    search = EvolutionarySearchCV(LogisticRegression(), space, population_size=3, generations=2, cv=2,
                                  random_state=0)
    assert "strategy" not in search.get_params()
    search.fit(X, y)
    assert len(search.cv_results_["params"]) == 6
    assert search.study_.strategy.to_config()["population_size"] == 3
    assert set(search.cv_results_["generation"].compressed()) >= {0}
    with pytest.raises(et.ConfigError, match="needs population_size"):
        EvolutionarySearchCV(LogisticRegression(), space, generations=2).fit(X, y)
    with pytest.raises(et.ConfigError, match="disagrees"):
        EvolutionarySearchCV(LogisticRegression(), space, population_size=3, generations=2, n_trials=10).fit(X, y)


def test_generations_is_a_budget_and_the_generational_recipe_runs_them_in_turn():
    """As EvolutionarySearchCV documents: P * G candidates, each labelled with its depth of descent
    (which may pass G - 1); the generational strategy it points to labels them 0 to G - 1."""
    X, y = make_classification(n_samples=90, n_features=4, random_state=0)
    space = {"max_depth": et.Int(1, 30), "min_samples_leaf": et.Int(1, 30)}
    steady = EvolutionarySearchCV(DecisionTreeClassifier(random_state=0), space, population_size=4, generations=3,
                                  cv=3, random_state=0).fit(X, y)
    labels = steady.cv_results_["generation"].compressed().tolist()
    assert len(labels) == 12 and labels[:4] == [0, 0, 0, 0] and max(labels) > 2
    for trial in [t for t in steady.study_.trials if t.parents]:  # a fresh random point has none
        assert trial.generation == 1 + max(steady.study_.trials[n].generation for n in trial.parents)
    generational = TuneSearchCV(DecisionTreeClassifier(random_state=0), space, n_trials=12, cv=3, random_state=0,
                                strategy=et.EvolutionarySearch(population_size=4, mode="generational"))
    generational.fit(X, y)
    assert generational.cv_results_["generation"].compressed().tolist() == [0] * 4 + [1] * 4 + [2] * 4


def test_the_repeat_limit_counts_repeats_in_a_row_not_in_a_batch(monkeypatch):
    monkeypatch.setattr(loop, "MAX_REPEATS", 8)
    X, y = make_regression(n_samples=30, n_features=2, random_state=0)
    # Sub-space 0 is one candidate, so about every other proposal repeats it; a batch of 20 new
    # candidates meets far more than 8 repeats, though never 8 in a row.
    space = [{"alpha": [0.5]}, {"alpha": list(np.linspace(0.0, 1.0, 41))}]
    search = TuneSearchCV(Quadratic(), space, strategy=et.RandomSearch(), n_trials=30, cv=2, batch_size=20,
                          random_state=0).fit(X, y)
    assert len(search.cv_results_["params"]) == 30 and search.stop_reason_ == "n_trials reached"
    assert sum("duplicate_of" in t.attrs for t in search.study_.trials) > 8


@pytest.mark.parametrize("strategy", [et.RandomSearch(), et.EvolutionarySearch()], ids=["random", "evolutionary"])
def test_an_unseeded_strategy_draws_anew_at_each_fit_and_is_not_altered(strategy):
    X, y = make_regression(n_samples=30, n_features=2, random_state=0)
    before = dict(vars(strategy))
    search = TuneSearchCV(Quadratic(), {"alpha": et.Float(0.0, 1.0)}, strategy=strategy, n_trials=3, cv=2)
    drawn = [tuple(p["alpha"] for p in fit(X, y).cv_results_["params"])
             for fit in (search.fit, search.fit, clone(search).fit)]
    assert len(set(drawn)) == 3, "random_state=None draws a new sequence at each fit, as scikit-learn does"
    assert vars(strategy) == before and search.strategy is strategy


def test_an_explicit_batch_size_makes_the_search_independent_of_n_jobs(classification):
    X, y = classification
    runs = [TuneSearchCV(LogisticRegression(), {"C": et.Float(1e-3, 1e2, log=True)}, n_trials=6, cv=2,
                         batch_size=2, n_jobs=n_jobs, random_state=0).fit(X, y) for n_jobs in (1, 3)]
    assert runs[0].cv_results_["params"] == runs[1].cv_results_["params"]

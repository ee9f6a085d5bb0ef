"""TuneSearchCV and EvolutionarySearchCV: scikit-learn search classes driven by an evotune study."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.model_selection._search import BaseSearchCV
from sklearn.utils._param_validation import Interval, StrOptions

from evotune.exceptions import ConfigError
from evotune.sklearn.loop import SearchLoop
from evotune.storage import Storage
from evotune.strategies import EvolutionarySearch, Strategy

#: Candidates evaluated when ``n_trials`` is not given.
DEFAULT_N_TRIALS = 50


class TuneSearchCV(BaseSearchCV):
    """Search hyperparameters with any evotune strategy, scoring each candidate by cross-validation.

    A drop-in for ``GridSearchCV`` / ``RandomizedSearchCV``: the same ``fit``, ``predict``,
    ``score``, ``best_params_``, ``best_score_``, ``best_estimator_`` and ``cv_results_``.
    Underneath, an evotune :class:`~evotune.Study` (``study_``) proposes the candidates and
    records every one of them, so a search can be stored, resumed, stopped early and inspected
    with the rest of evotune.

    How a fit runs: the strategy is asked for a batch of candidates; scikit-learn fits every
    (candidate, fold) pair of the batch in one joblib call (``n_jobs`` workers, so folds *and*
    candidates run in parallel, and ``joblib.parallel_backend("dask")`` sends them to a Dask
    cluster); each candidate's mean scores are told to the study, and the next batch is asked
    for. The batch holds just enough candidates that candidates x folds is a multiple of the
    workers, so no worker idles while the strategy still learns from every batch. A strategy
    that learns from results (the default evolutionary one) proposes according to what it was
    told, so that default batch size makes the candidates depend on the number of workers; give
    ``batch_size`` to make them depend on ``random_state`` alone (see ``random_state``).

    Args:
        estimator: The estimator (or pipeline) to tune.
        param_space: A dict of parameter name -> evotune ``Float``/``Int``/``Categorical``,
            list of values, or ``scipy.stats`` distribution (``loguniform``, ``uniform``,
            ``randint``); or a list of such dicts for alternative sub-spaces. Pipeline
            parameters use scikit-learn's ``step__param`` names. See
            :mod:`evotune.sklearn.spaces` for the conversions and the sub-space design.
        strategy: An evotune strategy (``et.EvolutionarySearch()``, ``et.RandomSearch()``,
            ``et.GridSearch()``...). None uses the study's default strategy, or the stored one
            when a study is resumed.
        n_trials: Candidates to evaluate in the whole study, counting those of earlier fits
            that it resumes. None: until the strategy is exhausted or ``timeout`` /
            ``patience`` stops the search.
        scoring: As in ``GridSearchCV``: None (the estimator's ``score``), a scorer name
            ("roc_auc", "f1_macro", "neg_log_loss", ...), a callable, or a list / dict of them
            for multi-metric scoring with ``refit=<name>``. Every metric is recorded in the
            trials' ``metrics``; the study optimizes the ``refit`` metric (with ``refit=True``
            or a callable: the first scorer).
        n_jobs: Parallel fits (-1: all cores); None means 1 unless a joblib context says otherwise.
        refit: As in ``GridSearchCV``.
        cv: As in ``GridSearchCV``. A shuffling splitter is split once per fit, so every
            candidate is scored on the same folds; give it a ``random_state`` to resume.
        verbose: 0 silent; > 0 prints scikit-learn's progress and the stop reason.
        pre_dispatch: As in ``GridSearchCV``.
        random_state: Seeds the strategy when it was created without a seed, and the default
            strategy. An int makes the search reproducible for a given batch size: the same
            candidates at every run with an explicit ``batch_size``, whatever ``n_jobs`` and the
            machine; without one, the batch size follows the workers, so only with the same
            ``n_jobs`` (for -1: the same number of cores, or of workers of a joblib backend).
            None: a new sequence at each fit, also in clones (as in ``RandomizedSearchCV``),
            unless the strategy was given a seed or a stored study is resumed (its stored seed).
            The ``strategy`` object itself is never altered.
        error_score: The score of a fit that raised (``"raise"`` to raise instead). A candidate
            whose mean score is NaN is a FAILED trial; otherwise it is COMPLETE with that score.
        return_train_score: As in ``GridSearchCV``; train means are recorded as ``train_<name>``.
        storage: None (in memory), a URL such as ``"sqlite:///tuning.db"``, or a Storage. A
            Storage object is shared, not copied, by ``clone``, so the studies of clones fitted
            in this process (``cross_val_score(search, ..., n_jobs=1)``) land in it too. Clones
            fitted in other processes (``n_jobs > 1`` there) get a copy of the estimator:
            their studies reach a persistent (SQL) storage, but stay in the workers' copies
            of an in-memory one.
        study_name: Name of the study; with a persistent ``storage``, the same name resumes it.
        patience: Stop after this many candidates without improving the best score.
        timeout: Seconds after which no new batch starts (a running batch finishes).
        target: Stop once the best mean score reaches this value.
        batch_size: Candidates asked for at a time; None chooses from the workers as described
            above. Give it for results that do not depend on ``n_jobs`` or the machine.

    Attributes:
        study_: The :class:`~evotune.Study` holding every candidate of the search.
        stop_reason_: Why the search stopped: "n_trials reached", "target reached", "timeout",
            "patience exhausted", "strategy exhausted", or after an error "interrupted" /
            "aborted: <error>" (``study_`` is set then too, to inspect or resume).
        cv_results_: scikit-learn's keys (``params``, ``param_*``, ``mean_test_<scorer>``,
            ``rank_test_<scorer>``, ``split<k>_test_<scorer>``, fit and score times), plus
            ``trial_number``, ``generation`` (masked where the strategy has none), ``parents``
            (tuples of trial numbers) and, for a list of sub-spaces, ``subspace``.
        best_params_, best_score_, best_index_, best_estimator_, scorer_, n_splits_,
        refit_time_, multimetric_: As in ``GridSearchCV``.

    Resuming: with a persistent ``storage`` and a ``study_name``, each evaluated candidate's
    per-fold results are stored with its trial. A new ``fit`` of the same study does not refit
    them: they reappear in ``cv_results_`` (and compete for ``best_params_``), and only the
    rest of ``n_trials`` is evaluated. Trials a fit left unfinished, whether Ctrl-C interrupted
    it or an error aborted it (``error_score="raise"``, a MemoryError, a killed worker: the
    error is in ``attrs["aborted_by"]``), are recorded FAILED ("interrupted"), do not count
    towards ``n_trials``, and are evaluated again by the next fit. When nothing is left to
    evaluate, the best stored candidate is cross-validated once more (scikit-learn needs one
    evaluation per fit; the repeat is not recorded) and refit. Resuming with another ``cv``
    (number of folds) or ``scoring`` raises ConfigError: each candidate's record describes the
    scorers that scored it (a scorer name as given, a function by its qualified name, another
    callable by its ``repr``), so ``{"m": "accuracy"}`` then ``{"m": "neg_log_loss"}`` is
    refused, and so is a ``scoring`` or ``refit`` that optimizes another metric. A study
    belongs to one dataset and one fit at a time: resuming it on other data (an outer fold of
    nested cross-validation, say) would reuse scores computed on the old data, so give each
    its own ``study_name``. Trials added by hand with ``Study.add`` guide the strategy but have
    no folds to show, so they are not rows of ``cv_results_``.

    Failures: a fit that raises scores ``error_score``, as in scikit-learn; a batch whose every
    fit failed is not an error (scikit-learn raises only when every fit of the search failed,
    and so does this class). Repeats: a proposal that equals an evaluated candidate (possible
    with sub-spaces, whose inactive parameters do not count) is told that candidate's result
    without a fit; it is a trial of the study (``attrs["duplicate_of"]``) but not a row of
    ``cv_results_``, nor part of ``n_trials``. After 200 repeats in a row, the strategy counts
    as exhausted.

    Example:
        >>> import evotune as et
        >>> from sklearn.datasets import load_iris
        >>> from sklearn.svm import SVC
        >>> X, y = load_iris(return_X_y=True)
        >>> search = TuneSearchCV(SVC(), {"C": et.Float(1e-2, 1e2, log=True)}, n_trials=8,
        ...                       cv=3, random_state=0).fit(X, y)
        >>> len(search.cv_results_["params"]), bool(search.best_score_ > 0.9)
        (8, True)
    """

    _parameter_constraints: dict = {
        **BaseSearchCV._parameter_constraints,
        "param_space": [Mapping, list, tuple],
        "strategy": [Strategy, None],
        "n_trials": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "storage": [str, Storage, None],
        "study_name": [str, None],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "timeout": [Interval(Real, 0, None, closed="neither"), None],
        "target": [Real, None],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self, estimator: Any, param_space: Any, *, strategy: Strategy | None = None,
        n_trials: int | None = DEFAULT_N_TRIALS, scoring: Any = None, n_jobs: int | None = None,
        refit: Any = True, cv: Any = None, verbose: int = 0, pre_dispatch: Any = "2*n_jobs",
        random_state: Any = None, error_score: Any = np.nan, return_train_score: bool = False,
        storage: str | Storage | None = None, study_name: str | None = None,
        patience: int | None = None, timeout: float | None = None, target: float | None = None,
        batch_size: int | None = None,
    ):
        super().__init__(
            estimator=estimator, scoring=scoring, n_jobs=n_jobs, refit=refit, cv=cv,
            verbose=verbose, pre_dispatch=pre_dispatch, error_score=error_score,
            return_train_score=return_train_score,
        )
        self.param_space = param_space
        self.strategy = strategy
        self.n_trials = n_trials
        self.random_state = random_state
        self.storage = storage
        self.study_name = study_name
        self.patience = patience
        self.timeout = timeout
        self.target = target
        self.batch_size = batch_size

    # -- hooks for the loop and subclasses ---------------------------------------------------
    def _strategy(self) -> Strategy | None:
        """The strategy to search with (None: the study's default or stored one)."""
        return self.strategy

    def _n_trials(self) -> int | None:
        """The candidate budget of the whole study."""
        return self.n_trials

    # -- scikit-learn's search protocol --------------------------------------------------------
    def fit(self, X: Any, y: Any = None, **params: Any) -> TuneSearchCV:
        """Search the space with cross-validation, then refit the best candidate.

        Args:
            X: Training data, shape (n_samples, n_features).
            y: Targets, or None for unsupervised estimators.
            **params: Passed to the estimator's ``fit``, the scorers and the cv splitter
                (``groups``), as in ``GridSearchCV.fit``.

        Returns:
            self, fitted.

        Raises:
            SpaceError: For a ``param_space`` entry that cannot be converted.
            StudyConflictError: When ``study_name`` exists in ``storage`` with another space.
            ConfigError: For an invalid stopping option, or a resumed study scored with
                another ``cv`` or ``scoring`` (other scorers, or another metric to optimize).
        """
        try:
            return super().fit(X, y, **params)
        finally:
            self._loop = None

    def _run_search(self, evaluate_candidates: Any) -> None:
        for stale in ("study_", "stop_reason_"):  # from an earlier fit; each fold task pickles self
            self.__dict__.pop(stale, None)
        self._loop = SearchLoop(self, evaluate_candidates)
        try:
            self._loop.run()
        finally:  # also after an error or an interruption, to inspect or resume the study
            self.study_ = self._loop.study
            self.stop_reason_ = self._loop.stop_reason

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_loop", None)  # the running search, never part of the estimator
        return state

    def _format_results(self, candidate_params: Any, n_splits: int, out: Any, more_results: Any = None) -> Any:
        loop = getattr(self, "_loop", None)
        base = super()._format_results
        if loop is None:
            return base(candidate_params, n_splits, out, more_results)
        return loop.format_results(
            lambda params, splits, folds, more: base(params, splits, folds, more),
            candidate_params, n_splits, out, more_results,
        )


class EvolutionarySearchCV(TuneSearchCV):
    """:class:`TuneSearchCV` with the evolutionary strategy; the budget is population size x generations.

    The search is steady-state (``EvolutionarySearch``'s default mode): a child is bred as soon
    as a candidate is scored, from every candidate scored so far, rather than one generation at
    a time.

    Args:
        estimator: The estimator (or pipeline) to tune.
        param_space: See :class:`TuneSearchCV`.
        population_size: Size of the first population and of the population parents are picked
            from; None lets the strategy choose it from the space and the budget.
        generations: The budget counted in populations: ``population_size * generations``
            candidates in all (``population_size`` is required). It is a budget, not a number
            of generation steps: the ``generation`` recorded for each candidate
            (``cv_results_["generation"]`` and the study's trials) is its depth of descent, one
            past its deepest parent, and may exceed ``generations - 1``. For generations run one
            after another, each bred only from the ones before, pass
            ``TuneSearchCV(strategy=et.EvolutionarySearch(population_size=P, mode="generational"),
            n_trials=P * G)``: its candidates are labelled generations 0 to ``G - 1``.
        n_trials: The candidate budget: ``"auto"`` is ``population_size * generations`` when
            ``generations`` is given, else 50; an int is used as given (it must agree with
            ``generations`` when both are given); None runs until ``timeout`` or ``patience``.
        Other arguments: As in :class:`TuneSearchCV`. ``random_state`` seeds the strategy.
            For the strategy's other settings, pass ``TuneSearchCV(strategy=et.EvolutionarySearch(...))``.

    Example:
        >>> from sklearn.datasets import load_iris
        >>> from sklearn.tree import DecisionTreeClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> search = EvolutionarySearchCV(
        ...     DecisionTreeClassifier(random_state=0), {"max_depth": list(range(1, 8))},
        ...     population_size=4, generations=2, cv=3, random_state=0).fit(X, y)
        >>> len(search.cv_results_["params"])
        7
    """

    _parameter_constraints: dict = {
        **{k: v for k, v in TuneSearchCV._parameter_constraints.items() if k != "strategy"},
        "population_size": [Interval(Integral, 2, None, closed="left"), None],
        "generations": [Interval(Integral, 1, None, closed="left"), None],
        "n_trials": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"}), None],
    }

    def __init__(
        self, estimator: Any, param_space: Any, *, population_size: int | None = None,
        generations: int | None = None, n_trials: int | str | None = "auto", scoring: Any = None,
        n_jobs: int | None = None, refit: Any = True, cv: Any = None, verbose: int = 0,
        pre_dispatch: Any = "2*n_jobs", random_state: Any = None, error_score: Any = np.nan,
        return_train_score: bool = False, storage: str | Storage | None = None,
        study_name: str | None = None, patience: int | None = None, timeout: float | None = None,
        target: float | None = None, batch_size: int | None = None,
    ):
        BaseSearchCV.__init__(
            self, estimator=estimator, scoring=scoring, n_jobs=n_jobs, refit=refit, cv=cv,
            verbose=verbose, pre_dispatch=pre_dispatch, error_score=error_score,
            return_train_score=return_train_score,
        )
        self.param_space = param_space
        self.population_size = population_size
        self.generations = generations
        self.n_trials = n_trials
        self.random_state = random_state
        self.storage = storage
        self.study_name = study_name
        self.patience = patience
        self.timeout = timeout
        self.target = target
        self.batch_size = batch_size

    def _strategy(self) -> Strategy:
        return EvolutionarySearch(population_size=self.population_size, seed=None)

    def _n_trials(self) -> int | None:
        if self.generations is None:
            return DEFAULT_N_TRIALS if self.n_trials == "auto" else self.n_trials
        if self.population_size is None:
            raise ConfigError(
                f"generations={self.generations} needs population_size (the budget is "
                f"population_size * generations), got population_size=None"
            )
        budget = self.population_size * self.generations
        if self.n_trials not in ("auto", budget):
            raise ConfigError(
                f"n_trials={self.n_trials!r} disagrees with population_size * generations = {budget}; "
                f"give one or the other"
            )
        return budget

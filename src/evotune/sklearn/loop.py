"""The search loop of the scikit-learn integration: ask a batch of trials, cross-validate, tell.

One :class:`SearchLoop` lives for one ``fit``. It opens (or resumes) the study, turns the
trials it asks for into candidates for scikit-learn's ``evaluate_candidates`` (which fits every
(candidate, fold) pair in one joblib call), reads each candidate's mean scores back from the
results, and tells the study. It also supplies the rows of ``cv_results_`` that earlier fits of
the same study recorded (see ``records.py``).
"""

from __future__ import annotations

import copy
import math
import numbers
import secrets
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from joblib import effective_n_jobs
from sklearn.exceptions import FitFailedWarning
from sklearn.utils import check_random_state

from evotune.exceptions import ConfigError, StudyNotFoundError, TrialStateError
from evotune.results import error_text
from evotune.sklearn.records import (
    CV_ATTR,
    Row,
    check_compatible,
    check_same_scorers,
    decode_folds,
    encode_folds,
    failed_folds,
    fill_error_scores,
    lineage_columns,
    mean_scores,
)
from evotune.sklearn.scoring import (
    check_same_metric,
    check_scorer_descriptions,
    describe_scoring,
    metric_name,
    scorer_names,
)
from evotune.sklearn.spaces import SearchSpace
from evotune.stopping import StopCriteria
from evotune.storage import open_storage
from evotune.strategies import Strategy
from evotune.study import Study
from evotune.trial import Trial, TrialState

#: Proposals in a row that repeat an evaluated candidate before the strategy counts as exhausted.
MAX_REPEATS = 200
#: Longest pause while another process holds the trials the strategy waits for.
_MAX_POLL = 1.0
#: Longest error message kept for a trial whose folds all failed.
_MAX_ERROR = 4000


class FrozenSplits:
    """A cross-validator that splits once and then repeats the same folds.

    Every batch of a search calls ``split`` again; a shuffling splitter without a fixed
    ``random_state`` would then score each batch on different folds. Freezing the first
    split keeps every candidate of a fit comparable.
    """

    def __init__(self, cv: Any):
        self.cv = cv
        self._splits: list[Any] | None = None

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.cv.get_n_splits(X, y, groups)

    def split(self, X: Any, y: Any = None, groups: Any = None, **params: Any) -> Any:
        if self._splits is None:
            self._splits = list(self.cv.split(X, y, groups, **params))
        return iter(self._splits)


def _seed(random_state: Any) -> int | None:
    if random_state is None:
        return None
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _reseeded(strategy: Strategy, seed: int) -> Strategy:
    try:
        return type(strategy)(seed=seed, **strategy.settings())
    except TypeError:  # a strategy whose settings are not its constructor arguments
        fresh = copy.deepcopy(strategy)
        fresh.seed, fresh.seed_given = int(seed), True
        return fresh


class SearchLoop:
    """Drive one ``fit`` of a search: see the module docstring.

    Args:
        search: The TuneSearchCV being fitted (its parameters are read, never changed).
        evaluate_candidates: scikit-learn's callback that cross-validates a list of candidates.
    """

    def __init__(self, search: Any, evaluate_candidates: Callable[..., dict[str, Any]]):
        self.search = search
        self.evaluate = evaluate_candidates
        self.space = SearchSpace(search.param_space)
        self.metric = metric_name(search.scoring, search.refit)
        self.scorers = describe_scoring(search.scoring)
        self.n_splits = int(search.n_splits_)
        self.cv = FrozenSplits(search._checked_cv_orig)
        self.n_trials = search._n_trials()
        self.criteria = StopCriteria(
            None, search.timeout, search.target, search.patience, None, direction="maximize",
        )
        self.study = self._open_study()
        self.restored: list[Row] = []
        self.live: list[Row] = []
        self.evaluated: dict[tuple[Any, ...], Trial] = {}
        self.batch_error: ValueError | None = None
        #: Rows added since scikit-learn last formatted the results (see _rescore_best).
        self.unshown = False
        #: Repeats of a candidate of the running batch, told with its result: (trial, its number).
        self.deferred: list[tuple[Trial, int]] = []
        self.scorer_names = scorer_names(search.scoring)
        self.stop_reason: str | None = None
        self.best: float | None = None

    # -- setup ----------------------------------------------------------------------------
    def _open_study(self) -> Study:
        search = self.search
        storage = open_storage(search.storage)
        seed = _seed(search.random_state)
        strategy = search._strategy()
        record = None
        if search.study_name is not None:
            try:
                record = storage.load_study(search.study_name)
            except StudyNotFoundError:
                pass
            else:
                check_same_metric(record.metric, search.scoring, search.refit, search.study_name)
        # Never the estimator's own strategy object: fitting would alter its parameter.
        if strategy is not None and not strategy.seed_given:
            stored = None if record is None else record.attrs.get("strategy", record.strategy)
            if seed is not None:
                strategy = _reseeded(strategy, seed)
            elif stored is not None and stored.get("type") == strategy.name:
                strategy = _reseeded(strategy, int(stored["seed"]))  # resume the same sequence
            else:  # random_state=None: a new sequence at each fit, as in RandomizedSearchCV
                strategy = _reseeded(strategy, secrets.randbits(32))
        elif strategy is not None:
            strategy = copy.deepcopy(strategy)
        return Study(
            self.space.space, direction="maximize", metric=self.metric, strategy=strategy,
            storage=storage, name=search.study_name, seed=seed,
        )

    def _restore(self) -> None:
        """Fail trials an interrupted fit left RUNNING and queue every interrupted candidate again
        (a resumed grid must not skip one); turn recorded trials back into rows."""
        return_train = bool(self.search.return_train_score)
        for trial in self.study.trials:
            if trial.state is TrialState.RUNNING:  # its fit was killed: it ran in this search's process
                self.study.tell(trial, error="interrupted")
                continue
            record = trial.attrs.get(CV_ATTR)
            if record is None or not trial.state.finished:
                continue
            check_compatible(record, trial.number, self.n_splits, self.study.name)
            check_scorer_descriptions(record, trial.number, self.scorers, self.study.name)
            index, params = self.space.decode(trial.params)
            self.restored.append(Row(
                params, decode_folds(record, return_train), trial.number, trial.generation,
                tuple(trial.parents), index,
            ))
            self.evaluated.setdefault(self.space.key(trial.params), trial)
            if trial.state is TrialState.COMPLETE and trial.value is not None:
                self.best = trial.value if self.best is None else max(self.best, trial.value)
        self.study.requeue_interrupted()

    def _batch_size(self) -> int:
        if self.search.batch_size is not None:
            return int(self.search.batch_size)
        workers = max(1, int(effective_n_jobs(self.search.n_jobs)))
        # Enough candidates that candidates x folds is a multiple of the workers: none idles.
        return workers // math.gcd(workers, self.n_splits)

    def _check_budget(self) -> None:
        if self.n_trials is not None:
            return
        finite = math.isfinite(self.study.strategy.size(self.study.space))
        if not finite and self.search.timeout is None and self.search.patience is None:
            raise ConfigError(
                f"n_trials=None needs another way to stop: set timeout= or patience=, or use a "
                f"strategy with finitely many candidates (got {self.study.strategy!r})"
            )

    # -- running --------------------------------------------------------------------------
    def run(self) -> None:
        self._restore()
        self._check_budget()
        self.study.stop_reason = None
        if self.n_trials is not None:
            spent = len(self.study.trials) - len(self.restored)
            self.study.history.budget = self.n_trials + spent
        batch_size = self._batch_size()
        start = time.monotonic()
        since_improvement = 0
        while self.stop_reason is None:
            remaining = None if self.n_trials is None else self.n_trials - len(self.restored) - len(self.live)
            if remaining is not None and remaining <= 0:
                self.stop_reason = "n_trials reached"
                break
            self.stop_reason = self.criteria.check(time.monotonic() - start, self.best, since_improvement, 0)
            if self.stop_reason is not None:
                break
            batch = self._ask(batch_size if remaining is None else min(batch_size, remaining), start)
            if not batch:
                self.stop_reason = self.stop_reason or "strategy exhausted"
                break
            for value in self._evaluate(batch):
                since_improvement += 1
                if value is not None and (self.best is None or value > self.best):
                    self.best, since_improvement = value, 0
        self.study.stop_reason = self.stop_reason
        if self.unshown or all(row.made_here for row in self.live):
            self._rescore_best()
        self._warn_non_finite()
        if self.search.verbose > 0:
            print(f"[{type(self.search).__name__}] stopped: {self.stop_reason}; "
                  f"{len(self.restored) + len(self.live)} candidates, best {self.metric} {self.best}")

    def _warn_non_finite(self) -> None:
        rows = [row for row in self.restored + self.live if row.shown and row.folds]
        for part in ("test", "train"):
            bad = sum(
                not all(math.isfinite(v) for k, v in mean_scores(row.folds).items()
                        if k.startswith("train_") == (part == "train"))
                for row in rows
            )
            if bad:
                warnings.warn(f"One or more of the {part} scores are non-finite: {bad} of {len(rows)} "
                              f"candidates have a NaN or infinite mean {part} score", UserWarning, stacklevel=2)

    def _ask(self, size: int, start: float) -> list[tuple[Trial, Row]]:
        """Up to ``size`` new candidates; repeats of evaluated candidates are told, not refit."""
        batch: list[tuple[Trial, Row]] = []
        keys: dict[tuple[Any, ...], Trial] = {}
        repeats, poll = 0, 0.05
        while len(batch) < size:
            try:
                trial = self.study.ask()
            except TrialStateError:
                if batch:
                    break  # the strategy waits for this batch (e.g. the end of a generation)
                if not any(t.state is TrialState.RUNNING for t in self.study.trials):
                    return batch  # exhausted
                if self.search.timeout is not None and time.monotonic() - start >= self.search.timeout:
                    self.stop_reason = "timeout"
                    return batch
                time.sleep(poll)  # another process holds the trials the strategy waits for
                poll = min(2 * poll, _MAX_POLL)
                continue
            key = self.space.key(trial.params)
            if key in self.evaluated or key in keys:
                if key in self.evaluated:
                    self._tell_repeat(trial, self.evaluated[key])
                else:  # a repeat within this batch: told once the batch is scored
                    self.deferred.append((trial, keys[key].number))
                repeats += 1
                if repeats >= MAX_REPEATS:
                    self.stop_reason = "strategy exhausted"
                    break
                continue
            index, params = self.space.decode(trial.params)
            keys[key] = trial
            repeats = 0  # the limit counts repeats in a row, not in the whole batch
            batch.append((trial, Row(params, [], trial.number, trial.generation, tuple(trial.parents), index)))
        return batch

    def _tell_repeat(self, trial: Trial, earlier: Trial) -> None:
        """Record a proposal of an already evaluated candidate with the earlier outcome."""
        attrs = {"duplicate_of": earlier.number}
        if earlier.state is TrialState.COMPLETE:
            self.study.tell(trial, dict(earlier.metrics), attrs=attrs)
        else:
            self.study.tell(trial, error=earlier.error or "failed", attrs=attrs)

    def _evaluate(self, batch: list[tuple[Trial, Row]]) -> list[float | None]:
        """Cross-validate a batch, tell the study; return each candidate's value (None if failed)."""
        rows = [row for _, row in batch]
        self.live.extend(rows)
        try:
            self.evaluate([row.params for row in rows], cv=self.cv)
        except ValueError as error:
            # scikit-learn raises when every fit of one call failed, and keeps none of its
            # results; in a search of many batches that is one bad batch, not a bad search.
            if self.search.error_score == "raise" or "fits failed" not in str(error):
                self._fail(batch, error)
                raise
            self.batch_error = error
            warnings.warn(
                f"every fit of {len(rows)} candidate(s) failed, so they score error_score="
                f"{self.search.error_score}; scikit-learn reported:{error}",
                FitFailedWarning, stacklevel=2,
            )
            for row in rows:
                row.made_here = True
                self.unshown = True  # in the results once scikit-learn formats them again
                row.folds = failed_folds(self.n_splits, self.search.error_score, self.scorer_names,
                                         str(error).strip()[-_MAX_ERROR:], bool(self.search.return_train_score))
        except BaseException as error:
            self._fail(batch, error)
            raise
        values = []
        for trial, row in batch:
            values.append(self._tell(trial, row))
            self.evaluated[self.space.key(trial.params)] = self.study.history[trial.number]
        for trial, number in self.deferred:
            self._tell_repeat(trial, self.study.history[number])
        self.deferred.clear()
        return values

    def _fail(self, batch: list[tuple[Trial, Row]], error: BaseException) -> None:
        """Record the trials of a batch that an exception cut short, so that a resume retries them.

        Whatever stopped the batch (Ctrl-C, ``error_score="raise"`` re-raising a fit's error, a
        MemoryError, a killed joblib worker), none of its candidates has a score, and which of
        them raised is not known: the error ends the whole joblib call. Each is recorded FAILED
        ("interrupted", the mark :meth:`Study.requeue_interrupted` retries, and which strategies
        do not hold against the configuration), with the error in ``attrs["aborted_by"]``; the
        error itself reaches the caller. A resumed fit, run once the cause is fixed, evaluates them.
        """
        interrupted = isinstance(error, KeyboardInterrupt)
        self.stop_reason = self.study.stop_reason = (
            "interrupted" if interrupted else f"aborted: {type(error).__name__}"
        )
        attrs = None if interrupted else {"aborted_by": error_text(error)[-_MAX_ERROR:]}
        for trial in [t for t, _ in batch] + [t for t, _ in self.deferred]:
            self.study.tell(trial, error="interrupted", attrs=attrs)
        self.deferred.clear()

    def _tell(self, trial: Trial, row: Row) -> float | None:
        multimetric = isinstance(row.folds[0]["test_scores"], Mapping)
        metrics = {}
        for name, mean in mean_scores(row.folds).items():
            if not multimetric and name in ("score", "train_score"):
                name = name.replace("score", self.metric)
            metrics[name] = mean
        if self.metric not in metrics:  # a callable scorer returned names we could not foresee
            metrics[self.metric] = next(iter(metrics.values()))
        value = metrics[self.metric]
        attrs = {CV_ATTR: encode_folds(row.folds, self.scorers)}
        if not math.isfinite(value):
            errors = [f["fit_error"] for f in row.folds if f.get("fit_error")]
            message = errors[0][-_MAX_ERROR:] if errors else f"the mean {self.metric} is {value}"
            self.study.tell(trial, error=message, attrs=attrs)
            return None
        finite = {k: v for k, v in metrics.items() if math.isfinite(v)}
        self.study.tell(trial, finite, attrs=attrs)
        return value

    def _rescore_best(self) -> None:
        """Run one more cross-validation of the best candidate so far, neither recorded nor shown.

        scikit-learn builds ``cv_results_`` from its last successful evaluation, so one is needed
        when this fit evaluated nothing (the study already holds the budget), and after a last
        batch whose every fit failed (its rows are added to the results then).
        """
        candidates = [r for r in self.restored + self.live if r.shown and r.folds
                      and self._row_value(r) is not None]
        if not candidates:
            if self.batch_error is not None:  # every fit failed: an error, as in scikit-learn
                raise ValueError(
                    f"all {sum(r.made_here for r in self.live) * self.n_splits} fits failed; the last "
                    f"ones reported:{self.batch_error}"
                ) from None
            if not self.restored:
                raise ConfigError(
                    f"no candidate was evaluated: the search stopped before the first one "
                    f"({self.stop_reason}); check the strategy, param_space and stopping criteria"
                )
            candidates = self.restored
        best = max(candidates, key=lambda r: self._row_value(r) or -math.inf)
        self.live.append(Row(best.params, [], best.trial_number, best.generation, best.parents,
                             best.subspace, shown=False))
        self.evaluate([best.params], cv=self.cv)

    def _row_value(self, row: Row) -> float | None:
        trial = self.study.history[row.trial_number]
        return trial.value if trial.state is TrialState.COMPLETE else None

    # -- results --------------------------------------------------------------------------
    def format_results(
        self, base: Callable[..., dict[str, Any]], candidate_params: Sequence[Mapping[str, Any]],
        n_splits: int, out: Sequence[dict[str, Any]], more_results: Any,
    ) -> dict[str, Any]:
        """``cv_results_`` over the restored rows and this fit's rows, plus lineage columns."""
        self.unshown = False
        returned = [row for row in self.live if not row.made_here][: len(candidate_params)]
        for i, row in enumerate(returned):
            row.folds = list(out[i * n_splits:(i + 1) * n_splits])
        check_same_scorers(self.restored, out, self.study.name)
        rows = [row for row in self.restored + self.live if row.shown and row.folds]
        folds = [fold for row in rows for fold in row.folds]
        fill_error_scores(folds, self.search.error_score)
        with warnings.catch_warnings():  # said once, at the end of the search, not per batch
            warnings.filterwarnings("ignore", "One or more of the", UserWarning)
            results = base([row.params for row in rows], n_splits, folds, more_results)
        results.update(lineage_columns(rows, self.space.multiple))
        return results

"""Per-fold results of a candidate, kept with its trial so a resumed search can show them again.

scikit-learn's search classes build ``cv_results_`` from one result per (candidate, fold): the
test (and train) scores, the fit and score times and the number of test samples. For every
candidate it evaluates, the search stores those results as JSON in the trial's ``attrs["cv"]``
(missing scores as ``null``, since storage refuses NaN). When a fit resumes a study, the stored
results of the trials already evaluated become rows of ``cv_results_`` again, without refitting.
The record also describes the scorers that made its scores (see ``scoring.py``), so a resumed
fit can refuse to rank them together with scores of other scorers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evotune.exceptions import ConfigError
from evotune.sklearn.scoring import SCORERS_KEY

#: Key of the per-fold results in ``Trial.attrs``.
CV_ATTR = "cv"


def _encode(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _decode(value: Any) -> float:
    return math.nan if value is None else float(value)


def _scores_by_name(scores: Any) -> dict[str, float]:
    return dict(scores) if isinstance(scores, Mapping) else {"score": scores}


@dataclass
class Row:
    """One candidate of ``cv_results_``: its estimator parameters, per-fold results and lineage."""

    params: dict[str, Any]
    folds: list[dict[str, Any]]
    trial_number: int
    generation: int | None = None
    parents: tuple[int, ...] = ()
    subspace: int = 0
    #: Its folds were not returned by scikit-learn (every fit of its batch failed) but made here.
    made_here: bool = False
    #: False for a repeat evaluation that must not become a row of ``cv_results_``.
    shown: bool = True


def failed_folds(n_splits: int, error_score: Any, names: Sequence[str] | None, message: str,
                 return_train_score: bool) -> list[dict[str, Any]]:
    """Per-fold dicts for a candidate whose every fit failed, scored ``error_score`` as scikit-learn does.

    Args:
        names: The scorer names of a multi-metric search, None for a single metric.
    """
    score: Any = float(error_score) if names is None else {name: float(error_score) for name in names}
    fold = {"fit_error": message, "test_scores": score, "n_test_samples": 0,
            "fit_time": math.nan, "score_time": math.nan}
    if return_train_score:
        fold["train_scores"] = score
    return [dict(fold) for _ in range(n_splits)]


def mean_scores(folds: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Mean test score per scorer name ("score" for a single metric), and train means as ``train_<name>``."""
    means = {}
    for part, prefix in (("test_scores", ""), ("train_scores", "train_")):
        if part not in folds[0]:
            continue
        per_fold = [_scores_by_name(f[part]) for f in folds]
        for name in per_fold[0]:
            means[prefix + name] = float(np.mean([float(s[name]) for s in per_fold]))
    return means


def encode_folds(folds: Sequence[Mapping[str, Any]], scorers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The JSON record of one candidate's per-fold results (scikit-learn's fit-and-score dicts).

    Args:
        scorers: Each scorer name -> its description (``scoring.describe_scoring``), kept with
            the scores they made.
    """
    multimetric = isinstance(folds[0]["test_scores"], Mapping)
    record: dict[str, Any] = {
        "n_splits": len(folds),
        "multimetric": multimetric,
        "fit_time": [_encode(f["fit_time"]) for f in folds],
        "score_time": [_encode(f["score_time"]) for f in folds],
        "n_test_samples": [int(f.get("n_test_samples", 0)) for f in folds],
        "failed": [f.get("fit_error") is not None for f in folds],
    }
    for part in ("test", "train"):
        if f"{part}_scores" not in folds[0]:
            continue
        per_fold = [_scores_by_name(f[f"{part}_scores"]) for f in folds]
        record[part] = {name: [_encode(s.get(name, math.nan)) for s in per_fold] for name in per_fold[0]}
    if scorers is not None:
        record[SCORERS_KEY] = dict(scorers)
    return record


def decode_folds(record: Mapping[str, Any], return_train_score: bool) -> list[dict[str, Any]]:
    """Per-fold dicts like scikit-learn's, rebuilt from :func:`encode_folds` output.

    Train scores that were not recorded come back as NaN when ``return_train_score`` is set.
    """
    n_splits = int(record["n_splits"])
    multimetric = bool(record["multimetric"])
    names = list(record["test"])
    folds = []
    for k in range(n_splits):
        test = {name: _decode(record["test"][name][k]) for name in names}
        fold: dict[str, Any] = {
            "fit_error": "failed (recorded earlier)" if record["failed"][k] else None,
            "test_scores": test if multimetric else test["score"],
            "n_test_samples": record["n_test_samples"][k],
            "fit_time": _decode(record["fit_time"][k]),
            "score_time": _decode(record["score_time"][k]),
        }
        if return_train_score:
            stored = record.get("train", {})
            train = {name: _decode(stored[name][k]) if name in stored else math.nan for name in names}
            fold["train_scores"] = train if multimetric else train["score"]
        folds.append(fold)
    return folds


def check_compatible(record: Mapping[str, Any], trial_number: int, n_splits: int, study: str) -> None:
    """Refuse to mix rows scored on a different number of folds into one ``cv_results_``."""
    if int(record.get("n_splits", -1)) != n_splits:
        raise ConfigError(
            f"study {study!r}: trial {trial_number} was cross-validated on {record.get('n_splits')} "
            f"folds, this search uses {n_splits}; resume it with the same cv or use another study_name"
        )


def _scored_names(folds: Sequence[Mapping[str, Any]]) -> list[str] | None:
    """The scorer names of the first fold that was fitted and scored (None when every fit failed:
    a failed fold holds ``error_score``, a bare number even for a scorer that returns a dict)."""
    for fold in folds:
        if fold.get("fit_error") is None:
            return sorted(_scores_by_name(fold["test_scores"]))
    return None


def check_same_scorers(rows: Sequence[Row], folds: Sequence[Mapping[str, Any]], study: str) -> None:
    """Refuse to mix restored rows with new ones scored by other scorers (as far as folds that
    were scored tell: failed ones do not)."""
    stored = next((names for row in rows if (names := _scored_names(row.folds)) is not None), None)
    fresh = _scored_names(folds)
    if stored is None or fresh is None:
        return
    if stored != fresh:
        raise ConfigError(
            f"study {study!r} was scored with {sorted(stored)}, this search scores {sorted(fresh)}; "
            f"resume it with the same scoring or use another study_name"
        )


def fill_error_scores(folds: list[dict[str, Any]], error_score: Any) -> None:
    """Give failed folds a dict of ``error_score`` when other folds have named scores.

    A callable scorer's return type is only known from a successful fold; a failed one before
    it holds a bare number. scikit-learn repairs this within one batch; a search runs many
    batches, so it is repaired over all of them.
    """
    names = next((list(f["test_scores"]) for f in folds if isinstance(f["test_scores"], Mapping)), None)
    if names is None or isinstance(error_score, str):
        return
    for fold in folds:
        for part in ("test_scores", "train_scores"):
            if part in fold and not isinstance(fold[part], Mapping):
                fold[part] = {name: error_score for name in names}


def lineage_columns(rows: Sequence[Row], subspaces: bool) -> dict[str, Any]:
    """The columns ``cv_results_`` gets beyond scikit-learn's: trial_number, generation, parents."""
    generations = [row.generation for row in rows]
    parents = np.empty(len(rows), dtype=object)
    for i, row in enumerate(rows):
        parents[i] = tuple(row.parents)
    columns: dict[str, Any] = {
        "trial_number": np.array([row.trial_number for row in rows], dtype=int),
        "generation": np.ma.MaskedArray(
            np.array([g if g is not None else 0 for g in generations], dtype=int),
            mask=[g is None for g in generations],
        ),
        "parents": parents,
    }
    if subspaces:
        columns["subspace"] = np.array([row.subspace for row in rows], dtype=int)
    return columns

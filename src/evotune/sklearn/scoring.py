"""What a search scores with: its scorer names, the metric its study optimizes, and a description of each scorer.

A resumed search shows the scores of earlier fits next to its own, so they must come from the
same scorers. Names alone do not tell: ``{"m": "accuracy"}`` and ``{"m": "neg_log_loss"}`` share
the name ``"m"``. Each candidate's record therefore keeps a description of every scorer (see
:func:`describe_scoring`), and a fit that would score differently is refused before it
evaluates anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import CodeType
from typing import Any

from evotune.exceptions import ConfigError

#: Key of the scorer descriptions in a candidate's per-fold record (``Trial.attrs["cv"]``).
SCORERS_KEY = "scorers"
#: Longest description kept for a scorer.
_MAX_DESCRIPTION = 200
#: A memory address in a ``repr``: it changes from one process to the next.
ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_COLLECTIONS = (list, tuple, set, frozenset)


def scorer_names(scoring: Any) -> list[str] | None:
    """The scorer names of a multi-metric ``scoring`` given as a list or dict, else None."""
    if isinstance(scoring, Mapping) or isinstance(scoring, _COLLECTIONS):
        return [str(name) for name in scoring]
    return None


def metric_name(scoring: Any, refit: Any) -> str:
    """The metric the study optimizes: the refit scorer, else the scorer's name, else "score"."""
    if isinstance(refit, str):
        return refit
    if isinstance(scoring, str):
        return scoring
    if isinstance(scoring, Mapping) and scoring:
        return str(next(iter(scoring)))
    if isinstance(scoring, (list, tuple)) and scoring:
        return str(scoring[0])
    if isinstance(scoring, (set, frozenset)) and scoring:
        return str(sorted(scoring)[0])
    return "score"


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_DESCRIPTION else text[: _MAX_DESCRIPTION - 3] + "..."


def _code_words(code: CodeType) -> tuple[list[str], list[str]]:
    """The names and constants a function's code refers to, its nested code included."""
    names, constants = list(code.co_names), []
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            inner_names, inner_constants = _code_words(constant)
            names += inner_names
            constants += inner_constants
        elif constant is not None:
            constants.append(repr(constant))
    return names, constants


def describe_scorer(scorer: Any) -> str:
    """A description of one scorer that stays the same from one process to the next.

    A scorer name is itself; a function or class is its qualified name (without the module,
    which is ``__main__`` in a script and the module's name once imported). A lambda, whose
    name says nothing, is described by the names and constants its code refers to (and the
    plain values, strings and numbers, it closes over), so that
    ``lambda e, X, y: f1_score(..., average="macro")`` differs from ``average="micro"``. Any
    other callable (``make_scorer(...)``, ``functools.partial``) is its ``repr`` without memory
    addresses.
    """
    if scorer is None:
        return "the estimator's score method"
    if isinstance(scorer, str):
        return scorer
    qualified = getattr(scorer, "__qualname__", None)
    if isinstance(qualified, str):
        code = getattr(scorer, "__code__", None)
        if not qualified.endswith("<lambda>") or not isinstance(code, CodeType):
            return qualified
        names, constants = _code_words(code)
        for cell in getattr(scorer, "__closure__", None) or ():  # values it closes over, when plain
            try:
                value = cell.cell_contents
            except ValueError:  # a cell not yet filled
                continue
            if value is None or isinstance(value, (str, int, float)):
                constants.append(repr(value))
        return _shorten(f"{qualified} using names {names} and constants {constants}")
    return _shorten(ADDRESS.sub("", " ".join(repr(scorer).split())))


def describe_scoring(scoring: Any) -> dict[str, str]:
    """Each scorer name of ``scoring`` -> its description ("score" for a single scorer)."""
    if isinstance(scoring, Mapping):
        return {str(name): describe_scorer(scorer) for name, scorer in scoring.items()}
    if isinstance(scoring, _COLLECTIONS):
        return {str(name): describe_scorer(name) for name in scoring}
    return {"score": describe_scorer(scoring)}


def _scoring_text(scoring: Any) -> str:
    if scoring is None or isinstance(scoring, str):
        return repr(scoring)
    if isinstance(scoring, _COLLECTIONS) and all(isinstance(name, str) for name in scoring):
        return repr(scoring)
    described = describe_scoring(scoring)
    return described["score"] if not isinstance(scoring, Mapping) else repr(described)


def check_same_metric(stored: str | None, scoring: Any, refit: Any, study: str) -> None:
    """Refuse to resume a study that optimizes another metric than this search's ``scoring``.

    Raises:
        ConfigError: Naming the stored metric and this search's ``scoring`` (and ``refit``).
    """
    metric = metric_name(scoring, refit)
    if stored == metric:
        return
    refit_text = f", refit={refit!r}" if isinstance(refit, str) else ""
    raise ConfigError(
        f"study {study!r} optimizes {stored!r}, but scoring={_scoring_text(scoring)}{refit_text} "
        f"optimizes {metric!r}; resume it with the same scoring (and refit) or use another study_name"
    )


def check_scorer_descriptions(record: Mapping[str, Any], trial_number: int, scorers: Mapping[str, str],
                       study: str) -> None:
    """Refuse to resume a study whose recorded candidates were scored by other scorers.

    Records made before scorer descriptions were kept have none and are accepted.

    Args:
        record: A candidate's per-fold record (``Trial.attrs["cv"]``).
        scorers: This search's :func:`describe_scoring`.

    Raises:
        ConfigError: Naming the scorer and both descriptions.
    """
    stored = record.get(SCORERS_KEY)
    if stored is None or dict(stored) == dict(scorers):
        return
    changed = [name for name in scorers if name in stored and stored[name] != scorers[name]]
    if changed:
        name = changed[0]
        raise ConfigError(
            f"study {study!r}: trial {trial_number} was scored with scorer {name!r} = {stored[name]!r}, "
            f"this search's scoring has {name!r} = {scorers[name]!r}; resume it with the same scoring "
            f"or use another study_name"
        )
    raise ConfigError(
        f"study {study!r}: trial {trial_number} was scored with the scorers {sorted(stored)}, this "
        f"search's scoring has {sorted(scorers)}; resume it with the same scoring or use another study_name"
    )

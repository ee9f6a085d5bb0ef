"""Turning scikit-learn parameter formats into an evotune space, and trial parameters back.

A ``param_space`` may mix, per parameter:

* an evotune ``Float``, ``Int`` or ``Categorical``, used as given;
* a list (or tuple, range, 1-d array) of values: a ``Categorical``. Numbers become an
  *ordered* choice (sorted), so mutation steps to a neighbouring value. Equal numbers such as
  ``1`` and ``1.0`` are one choice (the first one given), but ``True`` is not the number ``1``.
  Values that JSON cannot store (estimators, tuples such as ``hidden_layer_sizes=(50,)``,
  functions) are recorded in the study under a readable label that stays the same from one
  run to the next (a function or class by its module-qualified name, anything else by its
  ``repr`` without memory addresses) and handed to the estimator as the objects given;
* a ``scipy.stats`` distribution: ``loguniform(a, b)`` -> ``Float(a, b, log=True)``,
  ``uniform(loc, scale)`` -> ``Float(loc, loc + scale)``, ``randint(low, high)`` ->
  ``Int(low, high - 1)`` (scipy's ``high`` is exclusive, evotune's bounds are inclusive).

A *list* of such dicts describes alternative sub-spaces, as in ``GridSearchCV``. The study then
has one extra categorical parameter, ``"__subspace__"`` (the index of the dict), and the union of
the sub-spaces' parameters. A parameter that appears with the same distribution in several
sub-spaces is one study parameter; one that appears with different distributions gets one
study parameter per sub-space, named ``"<name>#<index>"``. Only the parameters of the chosen
sub-space reach the estimator; the others are inactive and ignored. Two trials that differ only
in inactive parameters are the same candidate (see :meth:`SearchSpace.key`).
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evotune.exceptions import SpaceError
from evotune.sklearn.scoring import ADDRESS
from evotune.space import Categorical, Distribution, Float, Int, Space

#: Name of the study parameter that selects one of several alternative sub-spaces.
SUBSPACE = "__subspace__"
#: Longest label kept for a choice that JSON cannot store.
_MAX_LABEL = 120


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _is_scipy_distribution(value: Any) -> bool:
    return all(hasattr(value, attr) for attr in ("dist", "rvs", "support", "args", "kwds"))


#: What each supported scipy.stats distribution needs for a finite, non-empty support.
_SCIPY_RULES = {
    "loguniform": "loguniform(a, b) needs finite bounds 0 < a < b",
    "reciprocal": "reciprocal(a, b) needs finite bounds 0 < a < b",
    "uniform": "uniform(loc, scale) needs a finite loc and a finite scale > 0 (it spans [loc, loc + scale])",
    "randint": "randint(low, high) needs integers low < high (high is excluded)",
}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _scipy_text(kind: str, frozen: Any) -> str:
    """``scipy.stats.<kind>(<args>)`` as the user wrote it."""
    args = [repr(_plain(a)) for a in frozen.args]
    args += [f"{key}={_plain(value)!r}" for key, value in frozen.kwds.items()]
    return f"scipy.stats.{kind}({', '.join(args)})"


def _scipy_support(name: str, kind: str, frozen: Any) -> tuple[Any, Any]:
    """The finite (low, high) support of a frozen distribution, else a SpaceError naming both."""
    text = _scipy_text(kind, frozen)
    try:
        with np.errstate(all="ignore"):
            low, high = (_plain(bound) for bound in frozen.support())
        finite = all(math.isfinite(float(bound)) for bound in (low, high))
    except (TypeError, ValueError, OverflowError) as error:
        raise SpaceError(
            f"parameter {name!r}: scipy cannot compute the support of {text} ({type(error).__name__}: "
            f"{error}); {_SCIPY_RULES[kind]}"
        ) from None
    if not finite:
        raise SpaceError(
            f"parameter {name!r}: {text} has an empty, invalid or unbounded support ({low!r}, {high!r}); "
            f"{_SCIPY_RULES[kind]}"
        )
    return low, high


def _scipy_to_distribution(name: str, frozen: Any) -> Distribution:
    kind = getattr(frozen.dist, "name", type(frozen.dist).__name__)
    if kind not in _SCIPY_RULES:
        raise SpaceError(
            f"parameter {name!r}: scipy.stats.{kind} is not supported; use scipy.stats.loguniform, "
            f"uniform or randint (bounded), or an evotune Float, Int or Categorical"
        )
    if kind in ("loguniform", "reciprocal"):
        n_shapes = frozen.dist.numargs
        loc = frozen.args[n_shapes] if len(frozen.args) > n_shapes else frozen.kwds.get("loc", 0.0)
        if loc != 0:
            raise SpaceError(
                f"parameter {name!r}: scipy.stats.loguniform with loc={loc!r} is not log-uniform "
                f"over its support; use loc=0 (scale is fine) or an evotune Float"
            )
    low, high = _scipy_support(name, kind, frozen)
    try:
        if kind == "randint":  # support() is inclusive: (low, high - 1)
            inexact = [b for b in (low, high) if isinstance(b, float) and not (b.is_integer() and abs(b) <= 2**53)]
            if inexact:  # scipy computed a bound in floating point and lost its integer value
                raise SpaceError(f"the support ({low!r}, {high!r}) is not an exact range of integers")
            low_int, high_int = int(low), int(high)
            return Int(low_int, high_int) if high_int > low_int else Categorical([low_int])
        return Float(float(low), float(high), log=kind != "uniform")
    except SpaceError as error:
        raise SpaceError(
            f"parameter {name!r}: {_scipy_text(kind, frozen)} cannot become an evotune distribution: "
            f"{error}; {_SCIPY_RULES[kind]}"
        ) from None


def _json_scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (str, bool, int))


def _label(value: Any) -> str:
    """A label for a choice that JSON cannot store, the same from one process to the next.

    A function or class is its module-qualified name (``__main__.log1p``); anything else is its
    ``repr`` without memory addresses, which change at every run and would keep a stored study
    from being resumed.
    """
    module, name = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if callable(value) and isinstance(name, str):
        text = f"{module}.{name}" if isinstance(module, str) else name
    else:
        text = ADDRESS.sub("", " ".join(repr(value).split()))
    return text if len(text) <= _MAX_LABEL else text[: _MAX_LABEL - 3] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _without_equal_numbers(values: Sequence[Any]) -> list[Any]:
    """``values`` with each number that equals an earlier one dropped (``1`` and ``1.0`` are one choice).

    The first of equal numbers is kept, with its type. Booleans are not numbers here: ``True``
    and ``1`` stay two choices. Other values are kept as they are.
    """
    seen: set[Any] = set()
    kept = []
    for value in values:
        if _is_number(value):
            if value in seen:  # Python compares int and float exactly: 2**53 + 1 != 2.0**53
                continue
            seen.add(value)
        kept.append(value)
    return kept


def _choices_to_distribution(name: str, values: Sequence[Any]) -> tuple[Distribution, dict[str, Any] | None]:
    """A Categorical for a list of values, and the label -> object table when labels are used."""
    values = _without_equal_numbers([v.item() if isinstance(v, np.generic) else v for v in values])
    if not values:
        raise SpaceError(f"parameter {name!r}: the list of values is empty")
    if all(_json_scalar(v) for v in values):
        unique: dict[str, Any] = {}
        for value in values:
            unique.setdefault(json.dumps(value), value)
        choices = list(unique.values())
        numeric = all(_is_number(v) for v in choices)
        if numeric and len(choices) > 1:
            return Categorical(sorted(choices), ordered=True), None
        return Categorical(choices), None
    table: dict[str, Any] = {}
    for index, value in enumerate(values):
        label = _label(value)
        if label in table and table[label] is not value:
            label = f"{label} #{index}"
        table.setdefault(label, value)
    return Categorical(list(table)), table


def to_distribution(name: str, value: Any) -> tuple[Distribution, dict[str, Any] | None]:
    """Convert one entry of a scikit-learn parameter dict.

    Returns:
        The distribution, and for choices that JSON cannot store, the table from each
        recorded label to the object it stands for (else None).

    Raises:
        SpaceError: Naming the parameter and the value it cannot convert.
    """
    if isinstance(value, Distribution):
        return value, None
    if _is_scipy_distribution(value):
        return _scipy_to_distribution(name, value), None
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return _choices_to_distribution(name, list(value))
    if isinstance(value, (list, tuple, range)):
        return _choices_to_distribution(name, list(value))
    raise SpaceError(
        f"parameter {name!r} must be a list of values, a scipy.stats distribution (loguniform, "
        f"uniform, randint) or an evotune Float/Int/Categorical, got {_describe(value)}"
    )


def _convert_dict(params: Any, where: str) -> dict[str, tuple[Distribution, dict[str, Any] | None]]:
    if not isinstance(params, Mapping):
        raise SpaceError(f"{where} must be a dict of parameter name -> values, got {_describe(params)}")
    converted = {}
    for name, value in params.items():
        if not isinstance(name, str) or not name:
            raise SpaceError(f"{where}: parameter names must be non-empty strings, got {name!r}")
        if name == SUBSPACE or "#" in name:
            raise SpaceError(f"{where}: parameter name {name!r} is reserved; rename it")
        converted[name] = to_distribution(name, value)
    return converted


class SearchSpace:
    """The evotune space a search explores, and the way back to estimator parameters.

    Args:
        param_space: A dict (or evotune Space) of parameter name -> values, or a list of such
            dicts for alternative sub-spaces (see the module docstring).

    Raises:
        SpaceError: For an empty space, an empty list of values, or an unsupported entry,
            naming the parameter and the value.

    Example:
        >>> from scipy.stats import loguniform
        >>> space = SearchSpace({"C": loguniform(1e-2, 1e2), "kernel": ["rbf", "linear"]})
        >>> space.space
        Space({'C': Float(0.01, 100.0, log=True), 'kernel': Categorical(['rbf', 'linear'])})
        >>> space.decode({"C": 1.5, "kernel": "rbf"})
        (0, {'C': 1.5, 'kernel': 'rbf'})
    """

    def __init__(self, param_space: Any):
        if isinstance(param_space, Mapping):
            subspaces = [_convert_dict(param_space, "param_space")]
            if not subspaces[0]:
                raise SpaceError("param_space must have at least one parameter, got an empty dict")
        elif isinstance(param_space, Sequence) and not isinstance(param_space, (str, bytes)):
            if not param_space:
                raise SpaceError("param_space must not be an empty list")
            subspaces = [_convert_dict(p, f"param_space[{i}]") for i, p in enumerate(param_space)]
        else:
            raise SpaceError(
                f"param_space must be a dict of parameter name -> values or a list of such dicts, "
                f"got {_describe(param_space)}"
            )
        self.n_subspaces = len(subspaces)
        # For each sub-space: (estimator name, study name, label table) of its parameters.
        self._active: list[list[tuple[str, str, dict[str, Any] | None]]] = [[] for _ in subspaces]
        distributions: dict[str, Distribution] = {}
        if self.n_subspaces > 1:
            distributions[SUBSPACE] = Categorical(list(range(self.n_subspaces)))
        names = list(dict.fromkeys(name for sub in subspaces for name in sub))
        for name in names:
            holders = [i for i, sub in enumerate(subspaces) if name in sub]
            shared = len({subspaces[i][name][0] for i in holders}) == 1
            for i in holders:
                study_name = name if shared else f"{name}#{i}"
                distributions[study_name] = subspaces[i][name][0]
                self._active[i].append((name, study_name, subspaces[i][name][1]))
        self.space = Space(distributions)
        self.multiple = self.n_subspaces > 1

    def subspace(self, params: Mapping[str, Any]) -> int:
        """Index of the sub-space a trial's parameters select (0 for a single dict)."""
        return int(params[SUBSPACE]) if self.multiple else 0

    def decode(self, params: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """The sub-space index and the estimator parameters of a trial (active ones only)."""
        index = self.subspace(params)
        estimator_params = {}
        for name, study_name, table in self._active[index]:
            value = params[study_name]
            estimator_params[name] = table[value] if table is not None else value
        return index, estimator_params

    def key(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """Identity of the candidate a trial evaluates: equal keys mean the same estimator."""
        index = self.subspace(params)
        return (index, *(self.space[s].key(params[s]) for _, s, _ in self._active[index]))

    def __repr__(self) -> str:
        return f"SearchSpace({self.space!r})"

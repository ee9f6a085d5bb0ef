"""The three kinds of hyperparameter: Float, Int and Categorical.

Each distribution is an immutable value that validates itself once, in ``__init__``, and
owns its operators (see :mod:`evotune.space.base` for the unit coordinate they work
through). The kinds live in :mod:`evotune.space.numeric` and :mod:`evotune.space.categorical`;
this module gathers them and turns the JSON description that :meth:`Distribution.to_dict`
gives back into a distribution with :func:`distribution_from_dict`.
"""

from __future__ import annotations

from typing import Any

from evotune.exceptions import SpaceError
from evotune.space.base import BLEND_ALPHA, Distribution, _describe
from evotune.space.categorical import Categorical
from evotune.space.numeric import INT_LIMIT, LOG_INT_GRID_REMEDY, MAX_GRID_VALUES, MAX_STEPS, Float, Int

__all__ = [
    "BLEND_ALPHA", "INT_LIMIT", "LOG_INT_GRID_REMEDY", "MAX_GRID_VALUES", "MAX_STEPS",
    "Categorical", "Distribution", "Float", "Int", "distribution_from_dict",
]


_KINDS: dict[str, type[Distribution]] = {"float": Float, "int": Int, "categorical": Categorical}


def distribution_from_dict(data: dict[str, Any], name: str = "parameter") -> Distribution:
    """Rebuild a distribution from :meth:`Distribution.to_dict` output.

    Raises:
        SpaceError: When the type is unknown or a field is missing or invalid.
    """
    if not isinstance(data, dict):
        raise SpaceError(f"{name}: a distribution must be a mapping, got {_describe(data)}")
    fields = dict(data)
    kind = fields.pop("type", None)
    if not isinstance(kind, str) or kind not in _KINDS:  # a list or a table is not a name
        raise SpaceError(
            f"{name}: type must be one of {sorted(_KINDS)}, got {kind!r}"
        )
    allowed = {
        "float": {"low", "high", "log", "step"},
        "int": {"low", "high", "log", "step"},
        "categorical": {"choices", "ordered"},
    }[kind]
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise SpaceError(f"{name}: unknown key {unknown[0]!r} for type {kind!r} (allowed: {sorted(allowed)})")
    try:
        if kind == "categorical":
            if "choices" not in fields:
                raise SpaceError("a categorical needs 'choices'")
            return Categorical(fields["choices"], ordered=fields.get("ordered", False))
        for required in ("low", "high"):
            if required not in fields:
                raise SpaceError(f"a {kind} needs {required!r}")
        if kind == "int" and fields.get("step") is None:
            fields.pop("step", None)
        return _KINDS[kind](fields.pop("low"), fields.pop("high"), **fields)
    except SpaceError as error:
        raise SpaceError(f"{name}: {error}") from None

"""Checks of the options of ``Study.optimize`` that the execution layer owns: ``catch``,
``retries``, ``heartbeat_interval``, ``grace_period``, ``max_concurrent`` and ``callbacks``.

Each is checked once, when ``optimize`` starts; a value that breaks its rule raises ConfigError
naming the option, the rule and the value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from evotune.exceptions import ConfigError
from evotune.execution.heartbeat import default_grace


def _check_options(catch: Any, retries: Any, heartbeat_interval: Any, grace_period: Any,
                   max_concurrent: Any) -> tuple[tuple[type[BaseException], ...], float]:
    if isinstance(catch, type):
        catch = (catch,)
    if not isinstance(catch, tuple) or not all(isinstance(c, type) and issubclass(c, BaseException) for c in catch):
        raise ConfigError(f"catch must be an exception class or a tuple of them, got {catch!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"retries must be an integer >= 0, got {retries!r}")
    if isinstance(heartbeat_interval, bool) or not isinstance(heartbeat_interval, (int, float)) \
            or not 0 < heartbeat_interval < math.inf:
        raise ConfigError(f"heartbeat_interval must be a number of seconds > 0, got {heartbeat_interval!r}")
    if grace_period is None:
        grace = default_grace(heartbeat_interval)
    elif isinstance(grace_period, bool) or not isinstance(grace_period, (int, float)) \
            or not 2 * heartbeat_interval <= grace_period < math.inf:
        raise ConfigError(
            f"grace_period must be a number of seconds of at least twice heartbeat_interval "
            f"({heartbeat_interval!r}), or None; got {grace_period!r}"
        )
    else:
        grace = float(grace_period)
    if max_concurrent is not None and (
        isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int) or max_concurrent < 1
    ):
        raise ConfigError(f"max_concurrent must be an integer >= 1 or None, got {max_concurrent!r}")
    return catch, grace


def check_callbacks(callbacks: Any) -> tuple[Callable[..., Any], ...]:
    """``callbacks`` as a tuple (None is none); ConfigError unless it is a sequence of callables."""
    if callbacks is None:
        return ()
    if callable(callbacks) or isinstance(callbacks, (str, bytes, Mapping)) or not isinstance(callbacks, Iterable):
        raise ConfigError(f"callbacks must be a sequence of callables, got {callbacks!r}")
    callbacks = tuple(callbacks)
    if not all(callable(c) for c in callbacks):
        raise ConfigError(f"callbacks must be a sequence of callables, got {callbacks!r}")
    return callbacks

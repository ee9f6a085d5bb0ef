"""Strategies propose parameter sets from the space and the history of trials."""

from __future__ import annotations

from typing import Any

from evotune.exceptions import ConfigError
from evotune.strategies.base import WAIT, History, Proposal, Strategy, make_rng
from evotune.strategies.evolution import EvolutionarySearch
from evotune.strategies.grid import GridSearch
from evotune.strategies.manual import ManualSearch
from evotune.strategies.random import RandomSearch
from evotune.strategies.unknown import UnknownStrategy

STRATEGIES: dict[str, type[Strategy]] = {
    "manual": ManualSearch, "grid": GridSearch, "random": RandomSearch,
    "evolution": EvolutionarySearch,
}


def default_strategy(seed: int | None = None) -> Strategy:
    """The strategy a study uses when none is given: EvolutionarySearch with its defaults.

    It leads RandomSearch (and Optuna's TPE) on mean rank in ``benchmarks/quality.py``.
    """
    return EvolutionarySearch(seed=seed)


def strategy_from_config(config: dict[str, Any]) -> Strategy:
    """Rebuild a strategy from :meth:`Strategy.to_config` output (or a config file's table).

    Raises:
        ConfigError: For an unknown type or an invalid setting, naming it.
    """
    if not isinstance(config, dict):
        raise ConfigError(f"strategy must be a table with a 'type', got {config!r}")
    settings = dict(config)
    kind = settings.pop("type", None)
    if not isinstance(kind, str) or kind not in STRATEGIES:  # a list or a table is not a name
        raise ConfigError(f"strategy type must be one of {sorted(STRATEGIES)}, got {kind!r}")
    try:
        return STRATEGIES[kind](**settings)
    except TypeError as error:
        raise ConfigError(f"strategy {kind!r}: {error}") from None


def stored_strategy(config: dict[str, Any]) -> Strategy:
    """The strategy a study stored: one of evotune's own rebuilt, else an :class:`UnknownStrategy`.

    A user's own Strategy subclass cannot be rebuilt from its stored settings; the study opens
    with an UnknownStrategy, which keeps them and refuses to propose until the real strategy
    is passed again.

    Raises:
        ConfigError: For a stored strategy of evotune's own with invalid settings.
    """
    kind = config.get("type") if isinstance(config, dict) else None
    if isinstance(kind, str) and kind not in STRATEGIES:
        return UnknownStrategy(config, tuple(sorted(STRATEGIES)))
    return strategy_from_config(config)


__all__ = [
    "STRATEGIES", "WAIT", "EvolutionarySearch", "GridSearch", "History", "ManualSearch", "Proposal", "RandomSearch",
    "Strategy", "UnknownStrategy", "default_strategy", "make_rng", "stored_strategy", "strategy_from_config",
]

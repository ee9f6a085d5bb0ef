"""UnknownStrategy: stands in for a stored strategy this process cannot rebuild.

A study keeps its strategy as JSON (``Strategy.to_config``). A strategy of evotune's own is
rebuilt from it; a user's own :class:`~evotune.strategies.base.Strategy` subclass is not, since
storage keeps JSON, never code. Such a study still opens, so its trials can be read, exported
and plotted; only proposing a new trial needs the strategy itself, passed again with
``strategy=``.
"""

from __future__ import annotations

from typing import Any

from evotune.exceptions import ConfigError
from evotune.space import Space
from evotune.strategies.base import History, Proposal, Strategy, _Wait


class UnknownStrategy(Strategy):
    """The stored settings of a strategy type evotune does not know; it refuses to propose.

    Args:
        config: The stored ``to_config()`` of the strategy, with its ``type``.
        known: The strategy types evotune can rebuild, for the error message.

    Example:
        >>> strategy = UnknownStrategy({"type": "constant", "seed": 3})
        >>> strategy.name, strategy.to_config()
        ('constant', {'type': 'constant', 'seed': 3})
    """

    def __init__(self, config: dict[str, Any], known: tuple[str, ...] = ()):
        seed = config.get("seed")
        super().__init__(seed if isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 else 0)
        self.name = str(config.get("type"))
        self._config = dict(config)
        self._known = known

    def propose(self, space: Space, history: History, number: int) -> Proposal | _Wait | None:
        raise self.error()

    def error(self, study: str | None = None) -> ConfigError:
        """The error for running trials with this strategy: it says to pass the strategy again."""
        of = f"study {study!r}" if study is not None else "this study"
        known = f" (evotune's own: {', '.join(self._known)})" if self._known else ""
        return ConfigError(
            f"{of} was run with strategy type {self.name!r}, which evotune cannot rebuild from storage{known}: "
            f"its trials can be read, but to run more, pass the strategy again, e.g. "
            f"Study.load(name, storage, strategy=YourStrategy(...)); or switch to one of evotune's own "
            f"(strategy= in Python, a [strategy] table for `evotune run`)"
        )

    def settings(self) -> dict[str, Any]:
        return {k: v for k, v in self._config.items() if k not in ("type", "seed")}

    def to_config(self) -> dict[str, Any]:
        return dict(self._config)

    def __repr__(self) -> str:
        return f"UnknownStrategy({self._config!r})"

"""The strategy interface: a small base class and the read-only history it sees.

A strategy proposes the next parameter set from two things only: the space and the
:class:`History` of trials. It never touches the study or the storage, so the same history
always gives the same proposal, and a study resumed from storage resumes its strategy too.

To write a strategy, subclass :class:`Strategy`, set ``name`` and implement ``propose``::

    class Constant(Strategy):
        name = "constant"
        def propose(self, space, history, number):
            return Proposal(params={n: d.from_unit(0.5) for n, d in space.items()}, origin="constant")

``propose`` returns a :class:`Proposal`, :data:`WAIT` (nothing can be proposed until a
running trial finishes, e.g. at a generation barrier) or ``None`` (the strategy is
exhausted and the study stops).

Storage keeps a strategy's settings (``to_config``), not its code, so only evotune's own
strategies are rebuilt when a study is reopened. A study run with your own strategy opens
without it for reading (its trials, best, export, plots, the CLI's read-only commands); to
run more trials, pass the strategy again: ``Study.load(name, storage, strategy=Constant())``.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import secrets
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evotune.exceptions import ConfigError
from evotune.space import Params, Space
from evotune.trial import Trial, TrialState


@dataclass(frozen=True)
class Proposal:
    """A parameter set to evaluate, with its lineage."""

    params: Params
    origin: str
    generation: int | None = None
    parents: tuple[int, ...] = ()


class _Wait:
    def __repr__(self) -> str:
        return "WAIT"


#: Returned by ``propose`` when the next proposal depends on trials still running.
WAIT = _Wait()


def make_rng(seed: int, *keys: int) -> np.random.Generator:
    """A generator derived from the strategy seed and any keys (trial number, generation...)."""
    return np.random.default_rng([seed, *keys])


class History(Sequence[Trial]):
    """Every trial of a study in number order, read-only for strategies.

    Besides the trials it keeps, incrementally, the identity of every parameter set already
    proposed (:meth:`seen`) and the completed trials, so strategies stay fast at any size.

    Attributes:
        space: The study's space.
        direction: "minimize" or "maximize".
        budget: The ``max_trials`` of the running ``optimize`` call, when one was given.
    """

    def __init__(self, space: Space, direction: str = "minimize", budget: int | None = None):
        self.space = space
        self.direction = direction
        self.budget = budget
        self._trials: list[Trial] = []
        self._numbers: dict[tuple[Any, ...], list[int]] = {}  # configuration -> its trials
        self._completed: list[Trial] = []
        self._n_started = 0
        self._n_finished = 0
        self._best: Trial | None = None

    def __getitem__(self, index):  # type: ignore[override]
        return self._trials[index]

    def __len__(self) -> int:
        return len(self._trials)

    def __iter__(self) -> Iterator[Trial]:
        return iter(self._trials)

    def _record(self, trial: Trial) -> None:
        """Insert or update a trial (called by the study, never by strategies)."""
        if trial.number < len(self._trials):
            previous = self._trials[trial.number]
            self._trials[trial.number] = trial
            if previous.state is TrialState.WAITING and trial.state is not TrialState.WAITING:
                self._n_started += 1
            if trial.state.finished and not previous.state.finished:
                self._n_finished += 1
                self._consider(trial)
            if trial.state is TrialState.COMPLETE and previous.state is not TrialState.COMPLETE:
                self._completed.append(trial)
            return
        if trial.number != len(self._trials):
            raise ValueError(f"trial {trial.number} recorded out of order (have {len(self._trials)})")
        self._trials.append(trial)
        self._n_started += trial.state is not TrialState.WAITING
        self._numbers.setdefault(self.space.key(trial.params), []).append(trial.number)
        if trial.state is TrialState.COMPLETE:
            self._completed.append(trial)
        if trial.state.finished:
            self._n_finished += 1
            self._consider(trial)

    def _consider(self, trial: Trial) -> None:
        if trial.state is TrialState.COMPLETE and (self._best is None or self.loss(trial) < self.loss(self._best)):
            self._best = trial

    def seen(self, params: Mapping[str, Any]) -> bool:
        """True when this configuration was already proposed, queued or recorded."""
        return self.space.key(params) in self._numbers

    def numbers_of(self, params: Mapping[str, Any]) -> list[int]:
        """Numbers of the trials of this configuration, in number order (empty when none)."""
        return list(self._numbers.get(self.space.key(params), ()))

    @property
    def n_distinct(self) -> int:
        """Distinct configurations among the trials (a retry or a repeated manual record counts once)."""
        return len(self._numbers)

    @property
    def completed(self) -> list[Trial]:
        """Completed trials, in the order they completed."""
        return list(self._completed)

    @property
    def n_started(self) -> int:
        """Trials that started (every state but WAITING): what ``max_trials`` counts."""
        return self._n_started

    @property
    def n_completed(self) -> int:
        return len(self._completed)

    def loss(self, trial: Trial) -> float:
        """The trial's value turned into a loss (lower is better) whatever the direction."""
        value = trial.value if trial.value is not None else math.inf
        return value if self.direction == "minimize" else -value

    @property
    def n_finished(self) -> int:
        """Trials that are COMPLETE or FAILED."""
        return self._n_finished

    def best(self) -> Trial | None:
        """The completed trial with the lowest loss (the earliest one on ties)."""
        return self._best


def space_size(space: Space) -> float:
    """Number of distinct configurations of ``space`` (``math.inf`` when a parameter is continuous)."""
    return math.prod((dist.cardinality for dist in space.values()), start=1.0)


#: A finite space this small is enumerated to find an unseen configuration when random draws fail.
ENUMERABLE = 4096


#: Largest exclusive bound numpy's ``Generator.integers`` accepts (it draws int64 values).
NUMPY_INTEGER_BOUND = 2**63


class SeededPermutation:
    """A random-looking permutation of ``range(size)``, computed one index at a time.

    ``order[i]`` is the ``i``-th element of the permutation that ``seed`` chooses. The
    permutation is a small Feistel network over the bits of the next power of two: the index
    is split into a high and a low half, and each round XORs one half with a keyed hash of
    the other (a bijection whatever the hash). A result at or past ``size`` goes through the
    network again until it falls inside (cycle-walking, which keeps a bijection of
    ``range(size)``; fewer than two passes on average, as the power of two is less than twice
    ``size``). So a shuffled order costs O(1) memory and a few hashes per index at any size,
    and is a pure function of ``size``, ``seed`` and the index: a shuffled grid resumes from
    the cells in storage alone. Unlike an affine walk ``(a * i + b) % size``, whose stride can
    be plain row-major order, any stretch of it spreads like a random sample.

    Example:
        >>> order = SeededPermutation(10, seed=1)
        >>> sorted(order) == list(range(10)) and list(order) == list(SeededPermutation(10, seed=1))
        True
    """

    ROUNDS = 6

    def __init__(self, size: int, seed: int):
        if size < 0:
            raise ValueError(f"SeededPermutation size must be >= 0, got {size}")
        self.size = size
        bits = max(size - 1, 0).bit_length()
        self._high_bits = bits // 2
        self._low_bits = bits - self._high_bits
        self._key = f"evotune permutation {seed} {size}:".encode()

    def __getitem__(self, index: int) -> int:
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range({self.size})")
        value = self._network(index)
        while value >= self.size:
            value = self._network(value)
        return value

    def __iter__(self) -> Iterator[int]:
        return (self[index] for index in range(self.size))

    def _network(self, value: int) -> int:
        high, low = value >> self._low_bits, value & ((1 << self._low_bits) - 1)
        for round_number in range(self.ROUNDS):
            if round_number % 2 == 0:
                high ^= self._round(round_number, low, self._high_bits)
            else:
                low ^= self._round(round_number, high, self._low_bits)
        return high << self._low_bits | low

    def _round(self, round_number: int, value: int, bits: int) -> int:
        """``bits`` pseudo-random bits from the key, the round number and ``value``."""
        message = self._key + bytes([round_number]) + value.to_bytes((value.bit_length() + 7) // 8, "little")
        return int.from_bytes(hashlib.shake_128(message).digest((bits + 7) // 8), "little") & ((1 << bits) - 1)


def draw_unseen(
    space: Space, history: History, rng: np.random.Generator, draws: int, taken: set[tuple[Any, ...]] | None = None,
) -> Params | None:
    """A random configuration that is neither in ``history`` nor among the keys in ``taken``.

    Tries ``draws`` random draws first. When they all repeat a configuration and the space is
    finite, walks its cells in a random order (a random permutation for at most
    :data:`ENUMERABLE` configurations, a :class:`SeededPermutation` beyond), so the last untried
    configurations of a nearly exhausted space are still found. Returns None when every
    configuration was tried; in an infinite space, the last draw, tried or not.
    """
    taken = taken or set()
    params: Params = {}
    for _ in range(draws):
        params = space.sample(rng)
        if space.key(params) not in taken and not history.seen(params):
            return params
    if not math.isfinite(space_size(space)):
        return params
    size = math.prod(int(dist.cardinality) for dist in space.values())
    axes = space.grid_axes()
    if size <= ENUMERABLE:
        order: Any = (int(index) for index in rng.permutation(size))
    else:
        order = iter(SeededPermutation(size, int(rng.integers(NUMPY_INTEGER_BOUND))))
    for index in order:
        params = space.grid_point(index, axes)
        if space.key(params) not in taken and not history.seen(params):
            return params
    return None


#: Origin of the trials queued or added by hand (``Study.enqueue``, ``Study.add``).
MANUAL = "manual"


def is_proposed(trial: Trial) -> bool:
    """True for a trial a strategy proposed: not queued or added by hand, and not a retry.

    Told apart by what it is not, so that a subclass may give its proposals another origin,
    and the trials of a strategy the study ran before count as proposals, as their numbers did.
    """
    return trial.origin != MANUAL and "retry_of" not in trial.attrs


def is_first_try(trial: Trial) -> bool:
    """True for a trial that is not a retry (``Study.requeue_interrupted``, ``optimize(retries=...)``)."""
    return "retry_of" not in trial.attrs


class DrawIndex:
    """The index of the draw for a trial number: how many trials that count come before it.

    A strategy that seeds its random choices by this index rather than by the trial number
    makes the same draws whether or not trials that do not count came in between. With
    ``counts`` :func:`is_proposed` (RandomSearch), trials queued or added by hand and retries
    do not count; with :func:`is_first_try` (EvolutionarySearch), retries do not. Either way a
    run resumed after a Ctrl-C (the interrupted trials queued again by
    :meth:`~evotune.Study.requeue_interrupted`) draws what an uninterrupted run would have.

    Reads each trial of the history once (a proposal costs the same at trial 50 and at trial
    5,000) and keeps the numbers of the trials that do not count. A trial number the history
    does not reach yet counts, so without trials that do not count the index is the trial
    number.
    """

    def __init__(self, history: History, counts: Callable[[Trial], bool] = is_proposed):
        self._history = weakref.ref(history)
        self._counts = counts
        self._length = 0
        self._others: list[int] = []  # numbers of the trials that do not count, ascending

    def follows(self, history: History) -> bool:
        """True when this index was built from ``history`` (and the history only grew)."""
        return self._history() is history and len(history) >= self._length

    def of(self, number: int) -> int:
        history = self._history()
        if history is not None:
            for index in range(self._length, len(history)):
                if not self._counts(history[index]):
                    self._others.append(index)
            self._length = len(history)
        return number - bisect.bisect_left(self._others, number)


class Strategy(ABC):
    """Base of every strategy. Subclasses set ``name`` and implement :meth:`propose`.

    Args:
        seed: Seed of every random choice. None draws one, which is then stored with the
            study so a resumed study continues the same sequence.
    """

    name: str = ""

    def __init__(self, seed: int | None = None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ConfigError(f"{type(self).__name__} seed must be an integer >= 0 or None, got {seed!r}")
        self.seed_given = seed is not None
        self.seed = int(seed) if seed is not None else secrets.randbits(32)

    @abstractmethod
    def propose(self, space: Space, history: History, number: int) -> Proposal | _Wait | None:
        """The parameter set for trial ``number``; WAIT to wait for running trials; None when done."""

    def settings(self) -> dict[str, Any]:
        """Constructor arguments besides ``seed`` (stored with the study as JSON)."""
        return {}

    def to_config(self) -> dict[str, Any]:
        return {"type": self.name, "seed": self.seed, **self.settings()}

    def size(self, space: Space | Mapping[str, Any]) -> float:
        """Number of distinct proposals this strategy can make (``math.inf`` when unbounded)."""
        return space_size(Space.coerce(space))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in {"seed": self.seed, **self.settings()}.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.to_config() == other.to_config()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

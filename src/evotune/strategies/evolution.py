"""EvolutionarySearch: a population of trials, selection by the study's metric, crossover and mutation.

The algorithm, in the words of its users: start with a population of models, train and measure
them, select the best by the chosen metric, mutate and cross them over to get children, train and
measure the children, repeat until a stopping criterion holds.

Design choices, each aimed at budgets of 50 to a few hundred trials:

* The first population is a Latin hypercube in unit coordinates: every parameter's range is cut
  into ``population_size`` slices and each slice is tried once, which covers the space far more
  evenly than independent draws.
* The population is the ``elitism`` best trials so far plus the most recent ones, so the best
  configurations are never lost while recent children keep the population diverse. Parents are
  picked by tournament among them, by the loss (the study's metric turned so that lower is better).
* Mutation moves parameters by a Gaussian step in unit coordinates (so log-scale parameters move in
  log space, ints and steps stay on their values, categoricals change choice: see the
  distributions). Its scale adapts with the one-fifth success rule: it grows after a child beats
  its parent and shrinks after a failure, so the search widens when progress is easy and
  narrows to refine a good region.
* Each child is the most promising of several candidates, judged by a radial-basis model of the
  finished trials (:mod:`evotune.strategies.surrogate`): training is costly, a prediction is not.
  The judgement weighs the predicted loss against the distance to configurations already tried,
  with a weight that cycles from child to child, so some children refine the best region and
  others reach out: the population keeps its diversity on multimodal problems. On the turns that
  refine, the model also screens many cheap mutants of the best trial that move several
  parameters at once, which is what smooth losses with correlated parameters need.
* On the turns that trust the model most, the child is instead the lowest point of a quadratic
  fitted by least squares to the best trials (:func:`~evotune.strategies.surrogate.quadratic_minimum`,
  origin "quadratic"): the trend of the results rather than their ripples, which jumps straight
  to the floor of a bowl that the local steps would take many trials to descend, or past the
  local dips of a rippled one.
* The model also sees the most recent failed trials, as worse than any complete one, so the
  children keep away from a region where the objective fails (an option the model refuses, a
  learning rate that diverges) instead of being drawn to it as untried.
* Equal losses are common (accuracy on a small validation set moves in steps): among equals the
  newest trial ranks first and a child that ties its parent counts as a success, so the search
  drifts across plateaus instead of shrinking its steps on them.
* No configuration is ever proposed twice: a duplicate child is mutated again, then replaced by
  a fresh random point, so no trial of the budget is spent on a repeat.

The strategy is pure: every proposal is a function of the space, the history, the trial number
and the seed. The bookkeeping it keeps between calls (:class:`~evotune.strategies.population.Ledger`)
is rebuilt from the history whenever a new one is seen, so a study resumed from storage continues
exactly where it stopped. Retries do not shift it: the steady-state draws are seeded by the count of
the trials before them that are not retries, and the adaptive step judges a retry in the place of
the trial it repeats, so a run resumed after a Ctrl-C with :meth:`~evotune.Study.requeue_interrupted`
proposes what an uninterrupted run would have.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from evotune.exceptions import ConfigError
from evotune.space import Space
from evotune.strategies.base import (
    WAIT,
    DrawIndex,
    History,
    Proposal,
    Strategy,
    _Wait,
    is_first_try,
    make_rng,
)
from evotune.strategies.breeding import Breeding
from evotune.strategies.population import OWN_ORIGINS, Ledger
from evotune.strategies.surrogate import RadialBasisModel, quadratic_minimum

MODES = ("steady-state", "generational")
SELECTIONS = ("tournament", "uniform")
CROSSOVERS = ("blend", "uniform")
#: One-fifth rule: the mutation scale grows by this factor after a success and shrinks by its
#: fourth root after a failure, which keeps it steady at a 20% success rate.
SUCCESS_FACTOR = 1.5
SCALE_LIMITS = (0.005, 0.5)
#: Most trials the surrogate is fitted on (the best ones), which keeps a proposal cheap.
SURROGATE_POINTS = 80
#: Most recent failed trials the surrogate also sees, as worse than any complete one.
FAILED_POINTS = 20
#: The quadratic trend is fitted on this many best trials per term (it has ``2 * n + 1``, n the
#: parameters it fits).
QUADRATIC_POINTS_PER_TERM = 2


def _check_int(name: str, value: Any, low: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        more = " or None" if allow_none else ""
        raise ConfigError(f"EvolutionarySearch {name} must be an integer >= {low}{more}, got {value!r}")


def _check_fraction(name: str, value: Any, allow_none: bool = False, positive: bool = False) -> None:
    if value is None and allow_none:
        return
    ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Real) and math.isfinite(value)
    ok = ok and (0 < value <= 1 if positive else 0 <= value <= 1)
    if not ok:
        rule = "in (0, 1]" if positive else "in [0, 1]"
        more = " or None" if allow_none else ""
        raise ConfigError(f"EvolutionarySearch {name} must be a number {rule}{more}, got {value!r}")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"EvolutionarySearch {name} must be one of {list(choices)}, got {value!r}")


def latin_hypercube(size: int, dimension: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` points in ``[0, 1]^dimension``, exactly one in each of ``size`` slices per axis."""
    slices = np.stack([rng.permutation(size) for _ in range(dimension)], axis=1)
    return (slices + rng.random((size, dimension))) / size


class EvolutionarySearch(Breeding, Strategy):
    """Evolve a population of trials: tournament selection, crossover, adaptive mutation.

    See the module documentation for the algorithm. Every setting has a default chosen on the
    quality benchmark (``benchmarks/quality.py``); each can be overridden.

    Args:
        population_size: Size of the first population and of the population parents are picked
            from. None chooses it from the number of parameters and the budget (``max_trials``):
            ``4 + 2 * dimension``, at most a fifth of the budget, at least 4. Once the first
            children exist the size is read back from the history, so a study resumed with
            another ``max_trials`` keeps its population.
        seed: See :class:`Strategy`.
        mode: "steady-state" (default): a new child whenever a worker asks, bred from every
            trial finished so far, so no worker ever idles and each child benefits from the latest
            results; with one worker the run is reproducible for a seed, across a Ctrl-C resumed
            with :meth:`~evotune.Study.requeue_interrupted` too. "generational": children
            of generation ``g`` are bred only from trials finished before ``g`` started, and the
            strategy waits at the end of each generation, so the trials are identical whatever the
            number of workers (reproducible parallel runs, at the cost of idle workers at each
            barrier). It waits for every trial of the generation, one started by hand with
            ``ask`` included: ``optimize`` then waits until that trial is told (or its
            ``timeout``), and says which trials it waits for.
        selection: "tournament" (default): each parent is the best of ``tournament_size`` members
            drawn at random; "uniform": any member, which favours diversity over pressure.
        tournament_size: Members per tournament (default 2, a mild pressure that keeps diversity).
        elitism: How many of the best trials so far always belong to the population; the rest of
            it is the most recent trials. None (default) keeps half the population as elite.
        crossover: "blend" (default): each parameter takes one parent's value or, half of the
            time, a value around and between both (numbers blend, unordered choices pick a parent);
            "uniform": each parameter takes one parent's value.
        crossover_rate: Share of children bred by crossover (default 0.3); the others are mutants.
        mutation_rate: Probability that each parameter mutates; None (default) mutates one
            parameter in ``dimension`` on average, and always at least one.
        mutation_scale: Initial mutation step, as a fraction of each parameter's range in unit
            coordinates (default 0.2).
        adaptive: Adapt the mutation step with the one-fifth success rule (default True).
        candidates: Children bred per proposal; the one a radial-basis model of the finished
            trials predicts best is proposed (default 8). 1 turns the screening off.
        local_candidates: Extra candidates screened with the bred children on the turns that
            favour the predicted loss: mutants of the best trial that move from one parameter to
            all of them at once (default 64; 0 turns them off). They cost a vectorised step each,
            far less than a bred child, and let the search follow narrow valleys of smooth losses.
        quadratic: On the turns that trust the model most (one child in four), propose the
            lowest point of a quadratic fitted to the best trials instead of a bred child
            (default True; origin "quadratic", parent the best trial). Numbers and ordered
            choices take the quadratic's minimum; unordered choices, and parameters the best
            trials give fewer than three values, keep the best trial's. It needs ``4 * n + 2``
            finished trials, ``n`` being the parameters other than unordered choices (at most 19
            of them), and the surrogate (``candidates`` of 2 or more); until then, when the fit is
            not a bowl along every parameter it fits, or when its minimum was already tried, the
            child is bred.

    Raises:
        ConfigError: For a setting of the wrong type or out of range, naming it.

    Example:
        >>> import evotune as et
        >>> study = et.Study({"x": et.Float(-5, 5), "n": et.Int(1, 9)},
        ...                  strategy=et.EvolutionarySearch(seed=0))
        >>> best = study.optimize(lambda p: (p["x"] - 1) ** 2 + (p["n"] - 3) ** 2, max_trials=60)
        >>> best.params["n"]
        3
    """

    name = "evolution"

    def __init__(
        self, population_size: int | None = None, seed: int | None = None, *, mode: str = "steady-state",
        selection: str = "tournament", tournament_size: int = 2, elitism: int | None = None,
        crossover: str = "blend", crossover_rate: float = 0.3, mutation_rate: float | None = None,
        mutation_scale: float = 0.2, adaptive: bool = True, candidates: int = 8,
        local_candidates: int = 64, quadratic: bool = True,
    ):
        super().__init__(seed)
        _check_int("population_size", population_size, 2, allow_none=True)
        _check_choice("mode", mode, MODES)
        _check_choice("selection", selection, SELECTIONS)
        _check_int("tournament_size", tournament_size, 1)
        _check_int("elitism", elitism, 0, allow_none=True)
        if elitism is not None and population_size is not None and elitism > population_size:
            raise ConfigError(
                f"EvolutionarySearch elitism must not exceed population_size={population_size}, "
                f"got {elitism!r}"
            )
        _check_choice("crossover", crossover, CROSSOVERS)
        _check_fraction("crossover_rate", crossover_rate)
        _check_fraction("mutation_rate", mutation_rate, allow_none=True, positive=True)
        _check_fraction("mutation_scale", mutation_scale, positive=True)
        if not isinstance(adaptive, (bool, np.bool_)):
            raise ConfigError(f"EvolutionarySearch adaptive must be True or False, got {adaptive!r}")
        _check_int("candidates", candidates, 1)
        _check_int("local_candidates", local_candidates, 0)
        if not isinstance(quadratic, (bool, np.bool_)):
            raise ConfigError(f"EvolutionarySearch quadratic must be True or False, got {quadratic!r}")
        self.population_size = None if population_size is None else int(population_size)
        self.mode, self.selection, self.crossover = mode, selection, crossover
        self.tournament_size = int(tournament_size)
        self.elitism = None if elitism is None else int(elitism)
        self.crossover_rate = float(crossover_rate)
        self.mutation_rate = None if mutation_rate is None else float(mutation_rate)
        self.mutation_scale = float(mutation_scale)
        self.adaptive = bool(adaptive)
        self.candidates = int(candidates)
        self.local_candidates = int(local_candidates)
        self.quadratic = bool(quadratic)
        self._ledger: Ledger | None = None
        self._design: tuple[tuple[Any, ...], np.ndarray] | None = None
        self._generation_cache: tuple[tuple[Any, ...], Any] | None = None
        self._model_cache: tuple[tuple[int, ...], RadialBasisModel] | None = None  # (best, -1, failed)
        self._trend_cache: tuple[tuple[int, ...], tuple[np.ndarray, int] | None] | None = None
        self._draw_index: DrawIndex | None = None

    def settings(self) -> dict[str, Any]:
        return {
            "population_size": self.population_size, "mode": self.mode, "selection": self.selection,
            "tournament_size": self.tournament_size, "elitism": self.elitism,
            "crossover": self.crossover, "crossover_rate": self.crossover_rate,
            "mutation_rate": self.mutation_rate, "mutation_scale": self.mutation_scale,
            "adaptive": self.adaptive, "candidates": self.candidates,
            "local_candidates": self.local_candidates, "quadratic": self.quadratic,
        }

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for cache in ("_ledger", "_design", "_generation_cache", "_model_cache", "_trend_cache", "_draw_index"):
            state[cache] = None
        return state

    # -- sizes ----------------------------------------------------------------------------
    def resolved_population_size(self, space: Space, budget: int | None) -> int:
        """The population size used for ``space`` and a budget of ``budget`` trials."""
        if self.population_size is not None:
            return self.population_size
        size = 4 + 2 * len(space)
        if budget is not None:
            size = min(size, budget // 5)
        return max(4, size)

    def _settled_size(self, ledger: Ledger) -> int | None:
        """The population size the study already uses, once children exist (None before).

        Read from the history, so resuming with another ``max_trials`` keeps the population;
        at most the size chosen without a budget, so that a study run first with another
        strategy (100 random trials, say), or one whose first trials failed, still breeds from
        a population of the usual size.
        """
        if self.population_size is not None or ledger.before_first_child is None:
            return None
        if self.mode == "generational":
            return ledger.slots.get(0) or None
        return min(max(2, ledger.before_first_child), self.resolved_population_size(ledger.space, None))

    def _elite_count(self, size: int) -> int:
        return min(size, self.elitism) if self.elitism is not None else max(1, size // 2)

    # -- proposals ------------------------------------------------------------------------
    def propose(self, space: Space, history: History, number: int) -> Proposal | _Wait | None:
        if history.n_distinct >= self.size(space):
            return None
        ledger = self._ledger_for(space, history)
        size = self._settled_size(ledger) or self.resolved_population_size(space, history.budget)
        if self.mode == "generational":
            return self._propose_generational(space, history, ledger, size, number)
        return self._propose_steady(space, history, ledger, size, number)

    def _ledger_for(self, space: Space, history: History) -> Ledger:
        if self._ledger is None or not self._ledger.follows(history):
            self._ledger = Ledger(space, history)
            self._generation_cache = self._model_cache = self._trend_cache = None
        self._ledger.update()
        return self._ledger

    def _propose_steady(
        self, space: Space, history: History, ledger: Ledger, size: int, number: int
    ) -> Proposal | None:
        initial_slots = size - ledger.n_foreign
        if ledger.n_initial < initial_slots:
            return self._initial(space, history, size, ledger.n_initial)
        draw = self._draw(history, number)
        rng = make_rng(self.seed, draw)
        if ledger.n_ranked < 2:
            return self._fresh_proposal(space, history, rng, generation=0)
        ledger.advance_scale(len(history), *self._scale_rule())
        population = ledger.population(size, self._elite_count(size))
        best = ledger.best(SURROGATE_POINTS)
        model, trend = self._model(ledger, best), self._trend(ledger, best)
        return self._child(space, history, ledger, population, (model, trend), ledger.log_scale, rng, None, draw)

    def _draw(self, history: History, number: int) -> int:
        """The draw index of steady-state trial ``number``, which seeds its generator and its turn.

        The number of trials before it that are not retries (:class:`~evotune.strategies.base.DrawIndex`):
        without retries, the trial number. A trial a Ctrl-C interrupted and its retry take one
        draw between them, so a run resumed with :meth:`~evotune.Study.requeue_interrupted` draws
        as an uninterrupted one. Trials queued or added by hand keep their draw (unlike
        RandomSearch's): they join the population, so the children after them differ anyway, and
        seeded runs that have them stay what they were.
        """
        # getattr: a strategy unpickled from an earlier evotune has no draw index
        if getattr(self, "_draw_index", None) is None or not self._draw_index.follows(history):
            self._draw_index = DrawIndex(history, is_first_try)
        return self._draw_index.of(number)

    def _propose_generational(
        self, space: Space, history: History, ledger: Ledger, size: int, number: int
    ) -> Proposal | _Wait | None:
        generation = max(ledger.max_generation, 0)
        slot = ledger.slots.get(generation, 0)
        if generation == 0 and slot < size:
            return self._initial(space, history, size, slot)
        if slot >= size:
            if ledger.unfinished_before(number):
                return WAIT
            generation, slot = generation + 1, 0
            start = number
        else:
            start = ledger.first[generation]
        key = (generation, start, size)
        if self._generation_cache is None or self._generation_cache[0] != key:
            ledger.advance_scale(start, *self._scale_rule())
            ranked = ledger.best(SURROGATE_POINTS, before=start)
            population = ledger.population(size, self._elite_count(size), before=start)
            models = (self._model(ledger, ranked, before=start), self._trend(ledger, ranked))
            self._generation_cache = (key, (ranked, population, models, ledger.log_scale))
        ranked, population, models, log_scale = self._generation_cache[1]
        rng = make_rng(self.seed, generation, slot)
        if len(ranked) < 2:
            return self._fresh_proposal(space, history, rng, generation=generation)
        return self._child(space, history, ledger, population, models, log_scale, rng, generation, slot)

    def _scale_rule(self) -> tuple[float, float, float, float, float]:
        """Arguments of :meth:`Ledger.advance_scale`: initial, step up, step down, limits (logs)."""
        up = math.log(SUCCESS_FACTOR) if self.adaptive else 0.0
        low, high = (math.log(limit) for limit in SCALE_LIMITS)
        initial = math.log(self.mutation_scale)
        return initial, up, -up / 4, min(low, initial), max(high, initial)

    def _initial(self, space: Space, history: History, size: int, slot: int) -> Proposal | None:
        """Slot ``slot`` of the first population: a row of the seeded Latin hypercube."""
        key = (space.to_json(), size)
        if self._design is None or self._design[0] != key:
            self._design = (key, latin_hypercube(size, len(space), make_rng(self.seed)))
        design = self._design[1]
        params = space.from_unit(design[slot % size])
        rng = make_rng(self.seed, 0, slot)
        params = self._unseen(space, history, params, rng, self.mutation_scale, set())
        if params is None:
            return self._fresh_proposal(space, history, rng, generation=0, origin="initial")
        return Proposal(params=params, origin="initial", generation=0)

    def _fresh_proposal(
        self, space: Space, history: History, rng: np.random.Generator, generation: int,
        origin: str = "random",
    ) -> Proposal | None:
        params = self._fresh(space, history, rng, set())
        return None if params is None else Proposal(params=params, origin=origin, generation=generation)

    def _model(self, ledger: Ledger, best: list[tuple[float, int]], before: int | None = None) -> RadialBasisModel | None:
        """The surrogate fitted on ``best``, the best finished trials, and on the most recent
        failed ones (numbered below ``before``) as worse than any: the model then steers
        children away from where the objective fails, and counts those configurations as
        tried. None with too few complete trials."""
        if self.candidates < 2 or len(best) < len(ledger.space) + 2:
            return None
        failed = ledger.failed(FAILED_POINTS, before)
        key = (*(number for _, number in best), -1, *failed)
        if self._model_cache is None or self._model_cache[0] != key:  # refit only when these change
            points = np.array([ledger.units[number] for number in (*(n for _, n in best), *failed)])
            losses = np.array([loss for loss, _ in best] + [math.inf] * len(failed))
            self._model_cache = (key, RadialBasisModel(points, losses))
        return self._model_cache[1]

    def _trend(self, ledger: Ledger, best: list[tuple[float, int]]) -> tuple[np.ndarray, int] | None:
        """The quadratic minimum of the trials in ``best`` (unit coordinates) and the number of the
        best of them, whose unordered choices it keeps; None without one."""
        if not self.quadratic or self.candidates < 2:
            return None
        unordered = np.array([not ledger.space[name].ordered for name in ledger.space])
        count = QUADRATIC_POINTS_PER_TERM * (2 * int((~unordered).sum()) + 1)
        if len(best) < count:
            return None
        key = tuple(number for _, number in best[:count])
        if self._trend_cache is None or self._trend_cache[0] != key:
            points = np.array([ledger.units[number] for number in key])
            minimum = quadratic_minimum(points, np.array([loss for loss, _ in best[:count]]), unordered)
            self._trend_cache = (key, None if minimum is None else (minimum, key[0]))
        return self._trend_cache[1]


__all__ = ["CROSSOVERS", "MODES", "OWN_ORIGINS", "SELECTIONS", "EvolutionarySearch", "latin_hypercube"]

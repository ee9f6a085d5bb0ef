"""Breeding: how EvolutionarySearch makes one child from its population.

A child is bred by crossover of two parents picked by tournament, or by mutation of one. Several
candidates are bred at each proposal; a radial-basis model of the finished trials judges them,
together with cheap mutants of the best trial on the turns that refine, and the most promising
one is proposed. Every candidate is checked against the history, so a configuration is never
proposed twice: a duplicate is mutated again, and as a last resort replaced by a fresh random
point.

:class:`Breeding` is a mixin of :class:`~evotune.strategies.evolution.EvolutionarySearch`: it
reads the strategy's settings (``selection``, ``crossover_rate``, ``candidates`` and so on) and
keeps no state of its own.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from evotune.space import Params, Space
from evotune.strategies.base import History, Proposal, draw_unseen
from evotune.strategies.population import Ledger
from evotune.strategies.surrogate import RadialBasisModel

#: Times a duplicate child is mutated again before a fresh random point replaces it.
MAX_REMUTATIONS = 16
#: Random draws tried for a fresh, unseen point.
MAX_FRESH_DRAWS = 32
#: Weight of the predicted loss against the distance to tried points when screening candidates,
#: taken in turn: from a far-reaching child (0.3) to the one predicted best (1.0).
SCREENING_WEIGHTS = (0.3, 0.6, 0.8, 1.0)
#: Shares of parameters the local candidates move, evenly from one in ``dimension`` to all.
LOCAL_RATE_STEPS = 4
#: Local candidates join the screening only on turns that weigh the prediction at least this much.
LOCAL_MIN_WEIGHT = 0.75


class Breeding:
    """Selection, crossover, mutation and surrogate screening of one child (a mixin)."""

    selection: str
    tournament_size: int
    crossover: str
    crossover_rate: float
    mutation_rate: float | None
    candidates: int
    local_candidates: int

    def _pick(self, population: list[tuple[float, int]], rng: np.random.Generator) -> int:
        """Index into ``population`` (sorted best first) of a parent."""
        draws = 1 if self.selection == "uniform" else self.tournament_size
        return int(rng.integers(len(population), size=draws).min())

    def _child(
        self, space: Space, history: History, ledger: Ledger, population: list[tuple[float, int]],
        models: tuple[RadialBasisModel | None, tuple[np.ndarray, int] | None], log_scale: float,
        rng: np.random.Generator, generation: int | None, turn: int,
    ) -> Proposal | None:
        """A child of ``population``, screened by the surrogate; ``models`` are the surrogate and
        the quadratic minimum with its parent (each None when there is none)."""
        model, trend = models
        scale = math.exp(log_scale)
        weight = SCREENING_WEIGHTS[turn % len(SCREENING_WEIGHTS)]
        if trend is not None and weight >= 1.0:  # the floor of the trend, unless already tried
            params = space.from_unit(trend[0])
            if not history.seen(params):
                return self._proposal(ledger, params, "quadratic", (trend[1],), generation)
        blend = 0.5 if self.crossover == "blend" else 0.0
        taken: set[tuple[Any, ...]] = set()
        bred: list[tuple[Params, str, tuple[int, ...]]] = []
        for _ in range(self.candidates if model is not None else 1):
            first = self._pick(population, rng)
            parents: tuple[int, ...] = (population[first][1],)
            if len(population) >= 2 and rng.random() < self.crossover_rate:
                second = self._pick(population, rng)
                if second == first:
                    second = (first + 1 + int(rng.integers(len(population) - 1))) % len(population)
                parents = (population[first][1], population[second][1])
                mother, father = (history[n].params for n in parents)
                params = space.crossover(mother, father, rng, blend)
                origin = "crossover"
            else:
                params = space.mutate(history[parents[0]].params, rng, self.mutation_rate, scale)
                origin = "mutation"
            unique = self._unseen(space, history, params, rng, scale, taken)
            if unique is not None:
                taken.add(space.key(unique))
                bred.append((unique, origin, parents))
        local = self._local_candidates(space, ledger, population, model, scale, rng, weight)
        chosen: tuple[Params, str, tuple[int, ...]] | None = bred[0] if bred else None
        if model is not None and len(bred) + len(local) > 1:
            points = np.vstack([np.array([space.to_unit(p) for p, _, _ in bred]).reshape(-1, len(space)), local])
            chosen = None
            for index in np.argsort(model.merit(points, weight), kind="stable"):
                if index < len(bred):
                    chosen = bred[index]
                    break
                params = space.from_unit(local[index - len(bred)])  # a mutant of the best trial
                if space.key(params) not in taken and not history.seen(params):
                    chosen = (params, "mutation", (population[0][1],))
                    break
        if chosen is None:  # nothing new was bred and every local candidate repeats a tried one
            params = self._fresh(space, history, rng, taken)
            if params is None:
                return None
            return Proposal(params=params, origin="random", generation=generation if generation is not None else 0)
        return self._proposal(ledger, *chosen, generation)

    @staticmethod
    def _proposal(
        ledger: Ledger, params: Params, origin: str, parents: tuple[int, ...], generation: int | None
    ) -> Proposal:
        """A child's proposal; in steady-state mode (no ``generation``) one past its parents'."""
        if generation is None:
            generation = 1 + max(ledger.generation_of(n) for n in parents)
        return Proposal(params=params, origin=origin, generation=generation, parents=parents)

    def _local_candidates(
        self, space: Space, ledger: Ledger, population: list[tuple[float, int]],
        model: RadialBasisModel | None, scale: float, rng: np.random.Generator, weight: float,
    ) -> np.ndarray:
        """Unit coordinates of cheap mutants of the best member, for the surrogate to screen.

        Each moves a share of the parameters that runs, candidate by candidate, from one in
        ``dimension`` (like the bred mutants) to all of them (the steps that follow a valley of a
        smooth function). Empty without a surrogate, with ``local_candidates=0``, and on the
        far-reaching turns (a screening ``weight`` below :data:`LOCAL_MIN_WEIGHT`), which keep to
        bred children so that the population stays diverse.
        """
        if model is None or not self.local_candidates or weight < LOCAL_MIN_WEIGHT:
            return np.empty((0, len(space)))
        count, width = self.local_candidates, len(space)
        rates = np.linspace(1.0 / width, 1.0, LOCAL_RATE_STEPS)[np.arange(count) % LOCAL_RATE_STEPS]
        best = np.repeat(ledger.units[population[0][1]][None, :], count, axis=0)
        return space.mutate_units(best, rng, rates, scale)

    def _unseen(
        self, space: Space, history: History, params: Params, rng: np.random.Generator, scale: float,
        taken: set[tuple[Any, ...]],
    ) -> Params | None:
        """``params``, or a mutant of it, that is neither in the history nor in ``taken``."""
        for _ in range(MAX_REMUTATIONS):
            if space.key(params) not in taken and not history.seen(params):
                return params
            params = space.mutate(params, rng, self.mutation_rate, scale)
        return None

    def _fresh(
        self, space: Space, history: History, rng: np.random.Generator, taken: set[tuple[Any, ...]]
    ) -> Params | None:
        """A random configuration never tried (None when a finite space is exhausted)."""
        return draw_unseen(space, history, rng, MAX_FRESH_DRAWS, taken)


__all__ = ["LOCAL_MIN_WEIGHT", "MAX_FRESH_DRAWS", "MAX_REMUTATIONS", "SCREENING_WEIGHTS", "Breeding"]

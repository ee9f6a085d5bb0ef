"""Small studies built trial by trial, for the plot and dashboard tests."""

from __future__ import annotations

import math

import numpy as np

import evotune as et
from evotune.storage import Storage
from evotune.trial import TrialState

#: Names that must be shown as written and never run as code or SQL.
HOSTILE_NAME = "</script><script>alert('study')</script> \"; DROP TABLE evotune_trials; --"
HOSTILE_PARAM = "<img src=x onerror=alert(1)> %{x} 'p'"


def mixed_space() -> et.Space:
    """One parameter of each kind, a log-scale one among them."""
    return et.Space({
        "lr": et.Float(1e-4, 1e-1, log=True),
        "depth": et.Int(1, 8),
        "noise": et.Float(0.0, 1.0),
        "act": et.Categorical(["relu", "tanh", "gelu"]),
    })


def mixed_objective(params: dict) -> float:
    """Strongly driven by lr, mildly by depth, by act a little, not at all by noise (minimize)."""
    return (math.log10(params["lr"]) + 2.5) ** 2 * 4 + 0.05 * (params["depth"] - 4) ** 2 + (
        0.3 if params["act"] == "tanh" else 0.0)


def random_study(n: int = 200, storage: Storage | str | None = None, name: str = "mixed", seed: int = 0,
                 direction: str = "minimize") -> et.Study:
    study = et.Study(mixed_space(), direction=direction, strategy=et.RandomSearch(seed=seed), storage=storage,
                     name=name)
    sign = 1.0 if direction == "minimize" else -1.0
    study.optimize(lambda p: sign * mixed_objective(p), max_trials=n, show_progress=False)
    return study


def evolution_study(storage: Storage, name: str = "evo", generations: int = 4, population: int = 5,
                    seed: int = 1, space: et.Space | None = None) -> tuple[et.Study, dict[int, list[int]]]:
    """A study whose trials carry generation and parents, written through the storage API.

    Each child of generation g > 0 has the best two trials of generation g - 1 as parents
    (the first child has only the best one), values improve every generation, and the last
    trial of every generation after the first fails. Returns the study and the trial numbers
    of each generation.
    """
    space = space or et.Space({"x": et.Float(-5.0, 5.0), "y": et.Float(-5.0, 5.0)})
    study = et.Study(space, strategy=et.ManualSearch(), storage=storage, name=name)
    rng = np.random.default_rng(seed)
    study_id = storage.load_study(name).study_id
    members: dict[int, list[int]] = {}
    previous: list[tuple[float, int]] = []
    for generation in range(generations):
        members[generation] = []
        best_two = [number for _, number in sorted(previous)[:2]]
        current: list[tuple[float, int]] = []
        for slot in range(population):
            params = space.sample(rng)
            parents = () if generation == 0 else tuple(best_two[:1] if slot == 0 else best_two)
            trial = storage.create_trial(study_id, params, TrialState.RUNNING, generation=generation,
                                         parents=parents, origin="initial" if generation == 0 else "crossover")
            assert trial is not None
            if generation > 0 and slot == population - 1:
                storage.finish_trial(study_id, trial.number, TrialState.FAILED, error="diverged")
            else:
                value = 10.0 / (generation + 1) + slot * 0.1
                storage.finish_trial(study_id, trial.number, TrialState.COMPLETE, value=value,
                                     metrics={"value": value})
                current.append((value, trial.number))
            members[generation].append(trial.number)
        previous = current
    return study, members

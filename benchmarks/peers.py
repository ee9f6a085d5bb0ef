"""Adapters that run peer optimization libraries on benchmark tasks.

Every adapter takes a task (see ``tasks.py``), an evaluation budget and a seed, and returns the
losses in evaluation order, so each library is scored by the same rules as evotune.

Versions measured (Python 3.11, scikit-learn 1.9.1, numpy 2.4):
    optuna 5.0.0 (with cmaes 0.13.1 for CmaEsSampler), optuna-integration 5.0.0,
    nevergrad 1.0.12, sklearn-genetic-opt 0.12.0 (with deap 1.4.4).

Install them with ``pip install optuna cmaes nevergrad sklearn-genetic-opt``.
"""

from __future__ import annotations

import importlib
import math
import random
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tasks import BayesmarkTask, Task

OPTUNA_SAMPLERS = ("tpe", "cmaes", "nsga2", "random")


def _require(module: str, package: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"This benchmark needs the package {package!r}; install it with "
            f"'pip install {package}'."
        ) from error


# --------------------------------------------------------------------------- Optuna


def _optuna_sampler(name: str, seed: int) -> Any:
    optuna = _require("optuna", "optuna")
    samplers = optuna.samplers
    if name == "tpe":
        return samplers.TPESampler(seed=seed)
    if name == "cmaes":
        _require("cmaes", "cmaes")
        # Categorical parameters go to Optuna's default fallback, a RandomSampler seeded alike.
        return samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "nsga2":
        return samplers.NSGAIISampler(seed=seed)
    if name == "random":
        return samplers.RandomSampler(seed=seed)
    raise ValueError(f"The 'sampler' argument must be one of {OPTUNA_SAMPLERS}. Got {name!r}.")


def suggest_params(trial: Any, space: dict[str, tuple]) -> dict[str, Any]:
    """Ask an Optuna trial for one parameter set of a task's search space."""
    params: dict[str, Any] = {}
    for name, spec in space.items():
        if spec[0] == "cat":
            params[name] = trial.suggest_categorical(name, list(spec[1]))
        elif spec[0] == "int":
            params[name] = trial.suggest_int(name, spec[1], spec[2], log=spec[3] == "log")
        else:
            params[name] = trial.suggest_float(name, spec[1], spec[2], log=spec[3] == "log")
    return params


def run_optuna(task: Task, sampler: str, budget: int, seed: int) -> list[float]:
    """Minimize ``task`` with one Optuna sampler ("tpe", "cmaes", "nsga2" or "random").

    Returns:
        The ``budget`` losses in evaluation order.
    """
    optuna = _require("optuna", "optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=_optuna_sampler(sampler, seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.optimize(lambda trial: task(suggest_params(trial, task.space)), n_trials=budget)
    return [trial.value for trial in study.trials]


# --------------------------------------------------------------------------- Nevergrad


def nevergrad_parametrization(space: dict[str, tuple], seed: int) -> Any:
    """Translate a task's search space into a seeded ``ng.p.Dict``."""
    ng = _require("nevergrad", "nevergrad")
    entries = {}
    for name, spec in space.items():
        if spec[0] == "cat":
            entries[name] = ng.p.Choice(list(spec[1]))
            continue
        if spec[3] == "log":
            parameter = ng.p.Log(lower=spec[1], upper=spec[2])
        else:
            parameter = ng.p.Scalar(lower=spec[1], upper=spec[2])
        if spec[0] == "int":
            parameter = parameter.set_integer_casting()
        entries[name] = parameter
    parametrization = ng.p.Dict(**entries)
    parametrization.random_state = np.random.RandomState(seed)
    return parametrization


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def run_nevergrad(task: Task, budget: int, seed: int, optimizer: str = "NGOpt") -> list[float]:
    """Minimize ``task`` with a Nevergrad optimizer (NGOpt by default), one candidate at a time.

    Returns:
        The ``budget`` losses in evaluation order.
    """
    ng = _require("nevergrad", "nevergrad")
    parametrization = nevergrad_parametrization(task.space, seed)
    instance = ng.optimizers.registry[optimizer](parametrization=parametrization, budget=budget)
    losses = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Nevergrad warns about its own sub-optimizer choices
        for _ in range(budget):
            candidate = instance.ask()
            loss = task({name: _plain(value) for name, value in candidate.value.items()})
            instance.tell(candidate, loss)
            losses.append(loss)
    return losses


# --------------------------------------------------------------------------- sklearn-genetic-opt


@dataclass(frozen=True)
class GeneticSearchResult:
    """What one GASearchCV run proposed.

    Attributes:
        losses: loss of every proposed configuration in order, repeats included (GASearchCV scores
            a repeat from its cache, so a repeat spends a proposal but no fit).
        configurations: the proposed configurations, natural values keyed by the task's names.
        unique_configurations: how many distinct configurations are among ``losses``.
        population_size: the population size used.
        generations: the number of generations used.
    """

    losses: list[float]
    configurations: list[dict[str, Any]]
    unique_configurations: int
    population_size: int
    generations: int


def genetic_search_shape(budget: int) -> tuple[int, int]:
    """Choose (population_size, generations) so that GASearchCV proposes at least ``budget``.

    With its default ``eaMuPlusLambda`` and crossover plus mutation probabilities summing to 1,
    GASearchCV proposes ``population_size`` configurations, then ``2 * population_size`` per
    generation.
    """
    population_size = max(4, round(math.sqrt(budget)))
    generations = max(1, math.ceil((budget / population_size - 1) / 2))
    return population_size, generations


def _genetic_space(task: BayesmarkTask, seed: int) -> dict[str, Any]:
    space_module = _require("sklearn_genetic.space", "sklearn-genetic-opt")
    grid = {}
    for index, (name, spec) in enumerate(task.natural_space.items()):
        dimension_seed = seed * 1000 + index + 1  # GASearchCV treats 0 as "no seed"
        if spec[0] == "cat":
            dimension = space_module.Categorical(list(spec[1]), random_state=dimension_seed)
        elif spec[0] == "int":
            dimension = space_module.Integer(spec[1], spec[2], random_state=dimension_seed)
        else:
            # No logit scale in GASearchCV: logit parameters are drawn uniformly in their bounds.
            distribution = "log-uniform" if spec[3] == "log" else "uniform"
            dimension = space_module.Continuous(
                spec[1], spec[2], distribution=distribution, random_state=dimension_seed
            )
        grid[task.param_prefix + name] = dimension
    return grid


def run_genetic_search(
    task: BayesmarkTask, budget: int, seed: int, population_size: int | None = None
) -> GeneticSearchResult:
    """Run sklearn-genetic-opt's GASearchCV on a Bayesmark task for about ``budget`` proposals.

    GASearchCV scores with the task's own estimator, folds and scoring, so its scores are minus
    the task's losses. Its population and generations are chosen by ``genetic_search_shape``
    (or from ``population_size``); the run stops after the first generation that reaches the
    budget, and the result keeps exactly ``budget`` proposals. DEAP draws from Python's global
    ``random`` module, so this seeds ``random`` and ``numpy.random`` globally.
    """
    genetic = _require("sklearn_genetic", "sklearn-genetic-opt")
    if population_size is None:
        population_size, generations = genetic_search_shape(budget)
    else:
        generations = max(1, math.ceil((budget / population_size - 1) / 2))
    grid = _genetic_space(task, seed)
    random.seed(seed)
    np.random.seed(seed)
    search = genetic.GASearchCV(
        task.estimator,
        cv=task.cv,
        param_grid=grid,
        scoring=task.scoring,
        population_size=population_size,
        generations=generations,
        verbose=False,
        refit=False,
        n_jobs=1,
        error_score="raise",
    )
    x_train, y_train = task.train_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning, DEAP class re-creation
        search.fit(x_train, y_train)
    records = search.logbook.chapters["parameters"][:budget]
    losses = [-float(record["score"]) for record in records]
    configurations = [
        {name: _plain(record[task.param_prefix + name]) for name in task.natural_space}
        for record in records
    ]
    unique = len({record["index"] for record in records})
    return GeneticSearchResult(losses, configurations, unique, population_size, generations)


__all__ = [
    "OPTUNA_SAMPLERS",
    "GeneticSearchResult",
    "genetic_search_shape",
    "nevergrad_parametrization",
    "run_genetic_search",
    "run_nevergrad",
    "run_optuna",
    "suggest_params",
]

"""evotune's scikit-learn search classes against their peers, at the same number of fits.

For each task (a bundled dataset and a model with its search space) and each seed:

1. the data are split 75/25 (stratified, seeded); the 75% is searched with 5-fold stratified
   cross-validation (the same folds for every method) and accuracy;
2. sklearn-genetic-opt's ``GASearchCV`` runs first with a fixed population and number of
   generations; the number of distinct candidates it cross-validated is the budget ``n``
   (it scores repeated individuals from a cache, so they cost no fit);
3. every other method cross-validates ``n`` candidates: evotune's ``TuneSearchCV`` with the
   evolutionary, random and default strategies, scikit-learn's ``RandomizedSearchCV`` and
   optuna-integration's ``OptunaSearchCV`` (TPE);
4. each method reports its best mean CV accuracy, the accuracy of its refit best model on the
   held-out 25%, and its wall time (search plus refit).

Every fit runs in this process (``n_jobs=1``) with one BLAS thread, so wall time measures the
fits a method chose plus its own overhead. The machine may be shared: the tables show medians
over seeds, and the summary compares methods run by run (ranks and time ratios).

Run ``python benchmarks/sklearn_search.py`` (about half an hour on 2 cores), or ``--quick``.
Needs ``pip install 'evotune[sklearn]' sklearn-genetic-opt optuna optuna-integration``.
Versions measured: scikit-learn 1.9.1, sklearn-genetic-opt 0.12.0 (deap 1.4.4), optuna 5.0.0,
optuna-integration 5.0.0.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import statistics
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_breast_cancer, load_digits, load_wine, make_classification
from sklearn.metrics import accuracy_score
from sklearn.model_selection import RandomizedSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

import evotune as et
from evotune.sklearn import TuneSearchCV

DATASETS: dict[str, Callable[..., Any]] = {
    "breast_cancer": load_breast_cancer, "wine": load_wine, "digits": load_digits,
}

#: Library-neutral spaces: ("float", low, high, "log"|"linear"), ("int", low, high), ("cat", choices).
MODELS: dict[str, tuple[Callable[[], Any], dict[str, tuple]]] = {
    "svm": (
        lambda: make_pipeline(StandardScaler(), SVC()),
        {"svc__C": ("float", 1e-2, 1e3, "log"), "svc__gamma": ("float", 1e-5, 1e1, "log")},
    ),
    "tree": (
        lambda: DecisionTreeClassifier(random_state=0),
        {"max_depth": ("int", 1, 20), "min_samples_split": ("int", 2, 40),
         "min_samples_leaf": ("int", 1, 20), "max_features": ("float", 0.1, 1.0, "linear"),
         "criterion": ("cat", ["gini", "entropy", "log_loss"])},
    ),
}

METHODS = ("evotune-evolution", "evotune-random", "evotune-default", "sklearn-random",
           "optuna-tpe", "ga-searchcv")
OURS = "evotune-evolution"


def _require(module: str, package: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise SystemExit(f"This benchmark needs {package!r}: pip install {package}") from error


# --------------------------------------------------------------------------- spaces per library


def evotune_space(space: dict[str, tuple]) -> dict[str, Any]:
    out = {}
    for name, spec in space.items():
        if spec[0] == "float":
            out[name] = et.Float(spec[1], spec[2], log=spec[3] == "log")
        elif spec[0] == "int":
            out[name] = et.Int(spec[1], spec[2])
        else:
            out[name] = et.Categorical(list(spec[1]))
    return out


def scipy_space(space: dict[str, tuple]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, spec in space.items():
        if spec[0] == "float":
            out[name] = (stats.loguniform(spec[1], spec[2]) if spec[3] == "log"
                         else stats.uniform(spec[1], spec[2] - spec[1]))
        elif spec[0] == "int":
            out[name] = stats.randint(spec[1], spec[2] + 1)
        else:
            out[name] = list(spec[1])
    return out


def optuna_space(space: dict[str, tuple]) -> dict[str, Any]:
    distributions = _require("optuna.distributions", "optuna")
    out: dict[str, Any] = {}
    for name, spec in space.items():
        if spec[0] == "float":
            out[name] = distributions.FloatDistribution(spec[1], spec[2], log=spec[3] == "log")
        elif spec[0] == "int":
            out[name] = distributions.IntDistribution(spec[1], spec[2])
        else:
            out[name] = distributions.CategoricalDistribution(list(spec[1]))
    return out


def genetic_space(space: dict[str, tuple], seed: int) -> dict[str, Any]:
    genetic = _require("sklearn_genetic.space", "sklearn-genetic-opt")
    out: dict[str, Any] = {}
    for index, (name, spec) in enumerate(space.items()):
        state = seed * 1000 + index + 1  # sklearn-genetic-opt reads 0 as "no seed"
        if spec[0] == "float":
            distribution = "log-uniform" if spec[3] == "log" else "uniform"
            out[name] = genetic.Continuous(spec[1], spec[2], distribution=distribution, random_state=state)
        elif spec[0] == "int":
            out[name] = genetic.Integer(spec[1], spec[2], random_state=state)
        else:
            out[name] = genetic.Categorical(list(spec[1]), random_state=state)
    return out


# --------------------------------------------------------------------------- one run


@dataclass
class Run:
    task: str
    method: str
    seed: int
    fits: int
    cv_score: float
    test_score: float
    seconds: float


def make_search(method: str, estimator: Any, space: dict[str, tuple], n: int, cv: Any, seed: int,
                n_jobs: int, ga_shape: tuple[int, int]) -> Any:
    common = dict(scoring="accuracy", cv=cv, n_jobs=n_jobs)
    if method == "evotune-evolution":
        return TuneSearchCV(estimator, evotune_space(space), strategy=et.EvolutionarySearch(seed=seed),
                            n_trials=n, **common)
    if method == "evotune-random":
        return TuneSearchCV(estimator, evotune_space(space), strategy=et.RandomSearch(seed=seed),
                            n_trials=n, **common)
    if method == "evotune-default":
        return TuneSearchCV(estimator, evotune_space(space), n_trials=n, random_state=seed, **common)
    if method == "sklearn-random":
        return RandomizedSearchCV(estimator, scipy_space(space), n_iter=n, random_state=seed, **common)
    if method == "optuna-tpe":
        integration = _require("optuna_integration", "optuna-integration")
        _require("optuna", "optuna").logging.set_verbosity(30)
        return integration.OptunaSearchCV(estimator, optuna_space(space), n_trials=n, random_state=seed,
                                          verbose=0, **common)
    if method == "ga-searchcv":
        genetic = _require("sklearn_genetic", "sklearn-genetic-opt")
        random.seed(seed)  # DEAP draws from the global generators
        np.random.seed(seed)
        population, generations = ga_shape
        return genetic.GASearchCV(estimator, param_grid=genetic_space(space, seed),
                                  population_size=population, generations=generations, verbose=False,
                                  **common)
    raise ValueError(f"unknown method {method!r}")


def fits_of(method: str, search: Any) -> int:
    if method == "ga-searchcv":
        return len(search.fitness_cache)
    if method == "optuna-tpe":
        return len(search.trials_)
    return len(search.cv_results_["params"])


def run_one(task: str, method: str, seed: int, n: int, cv_splits: int, n_jobs: int,
            ga_shape: tuple[int, int]) -> tuple[Run, Any]:
    dataset, model = task.split("/")
    X, y = DATASETS[dataset](return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
    factory, space = MODELS[model]
    cv = StratifiedKFold(cv_splits, shuffle=True, random_state=seed)
    search = make_search(method, factory(), space, n, cv, seed, n_jobs, ga_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        search.fit(X_train, y_train)
        seconds = time.perf_counter() - start
    test = accuracy_score(y_test, search.best_estimator_.predict(X_test))
    return Run(task, method, seed, fits_of(method, search), float(search.best_score_), float(test), seconds), search


# --------------------------------------------------------------------------- overhead


class InstantClassifier(ClassifierMixin, BaseEstimator):
    """Fits in no time and scores ``-(log10 C + 1)^2 - (log10 gamma + 3)^2``: measures a search's own cost."""

    def __init__(self, C=1.0, gamma=1.0):
        self.C = C
        self.gamma = gamma

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])

    def score(self, X, y, sample_weight=None):
        return -((np.log10(self.C) + 1) ** 2) - (np.log10(self.gamma) + 3) ** 2


def overhead(methods: list[str], n: int, cv_splits: int, repeats: int) -> str:
    """Milliseconds per candidate each method spends around instant fits (median of repeats)."""
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    space = {"C": ("float", 1e-2, 1e3, "log"), "gamma": ("float", 1e-5, 1e1, "log")}
    lines = ["", f"## Search overhead: an estimator that fits instantly, {n} candidates x {cv_splits} folds",
             f"{'method':<19}{'ms per candidate':>18}{'fits':>6}"]
    for method in methods:
        per_candidate, fits = [], 0
        for seed in range(1, repeats + 1):
            cv = StratifiedKFold(cv_splits, shuffle=True, random_state=seed)
            search = make_search(method, InstantClassifier(), space, n, cv, seed, 1, (10, 4))
            if method != "ga-searchcv":
                search.set_params(scoring=None)
            else:
                search.scoring = None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                search.fit(X, y)
                seconds = time.perf_counter() - start
            fits = fits_of(method, search)
            per_candidate.append(1000 * seconds / fits)
        lines.append(f"{method:<19}{statistics.median(per_candidate):>18.2f}{fits:>6}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- tables


def ranks(values: dict[str, float]) -> dict[str, float]:
    """Rank 1 = best (highest); ties share the mean rank."""
    ordered = sorted(values.values(), reverse=True)
    return {m: statistics.mean(i + 1 for i, v in enumerate(ordered) if v == value) for m, value in values.items()}


def report(runs: list[Run]) -> str:
    lines = []
    by_task: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        by_task[run.task].append(run)
    header = f"{'method':<19}{'fits':>6}{'best CV':>10}{'test':>9}{'wall s':>9}"
    for task, task_runs in by_task.items():
        lines += ["", f"## {task}  (medians over {len({r.seed for r in task_runs})} seeds)", header]
        for method in METHODS:
            mine = [r for r in task_runs if r.method == method]
            if not mine:
                continue
            lines.append(
                f"{method:<19}{statistics.median(r.fits for r in mine):>6.0f}"
                f"{statistics.median(r.cv_score for r in mine):>10.4f}"
                f"{statistics.median(r.test_score for r in mine):>9.4f}"
                f"{statistics.median(r.seconds for r in mine):>9.2f}"
            )
    groups: dict[tuple[str, int], dict[str, Run]] = defaultdict(dict)
    for run in runs:
        groups[(run.task, run.seed)][run.method] = run
    cv_ranks, test_ranks, time_ratio = defaultdict(list), defaultdict(list), defaultdict(list)
    for group in groups.values():
        for method, rank in ranks({m: r.cv_score for m, r in group.items()}).items():
            cv_ranks[method].append(rank)
        for method, rank in ranks({m: r.test_score for m, r in group.items()}).items():
            test_ranks[method].append(rank)
        if "ga-searchcv" in group:
            for method, run in group.items():
                time_ratio[method].append(run.seconds / group["ga-searchcv"].seconds)
    lines += ["", f"## Summary over {len(groups)} (task, seed) runs",
              f"{'method':<19}{'CV rank':>9}{'test rank':>11}{'time / GA':>11}"]
    for method in METHODS:
        if method in cv_ranks:
            ratio = statistics.median(time_ratio[method]) if time_ratio[method] else float("nan")
            lines.append(f"{method:<19}{statistics.mean(cv_ranks[method]):>9.2f}"
                         f"{statistics.mean(test_ranks[method]):>11.2f}{ratio:>11.2f}")
    duels = [g for g in groups.values() if OURS in g and "ga-searchcv" in g]
    if duels:
        wins = sum(g[OURS].cv_score > g["ga-searchcv"].cv_score for g in duels)
        ties = sum(g[OURS].cv_score == g["ga-searchcv"].cv_score for g in duels)
        test_wins = sum(g[OURS].test_score > g["ga-searchcv"].test_score for g in duels)
        test_ties = sum(g[OURS].test_score == g["ga-searchcv"].test_score for g in duels)
        faster = sum(g[OURS].seconds < g["ga-searchcv"].seconds for g in duels)
        lines += ["", f"{OURS} vs ga-searchcv over {len(duels)} runs: best CV higher in {wins}, equal in "
                      f"{ties}; test higher in {test_wins}, equal in {test_ties}; faster in {faster}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=None, help="seeds per task (default 5, --quick 2)")
    parser.add_argument("--datasets", nargs="+", default=None, choices=list(DATASETS),
                        help="datasets (default: all, --quick breast_cancer)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--cv", type=int, default=5, help="cross-validation folds (default 5)")
    parser.add_argument("--ga-population", type=int, default=10, help="GASearchCV population_size")
    parser.add_argument("--ga-generations", type=int, default=4, help="GASearchCV generations")
    parser.add_argument("--budget", type=int, default=None,
                        help="candidates per method when GASearchCV is not run (default 60)")
    parser.add_argument("--n-jobs", type=int, default=1, help="n_jobs of every search (default 1)")
    parser.add_argument("--quick", action="store_true", help="breast_cancer only, 2 seeds (unless given)")
    parser.add_argument("--overhead-only", action="store_true", help="only the search overhead table")
    parser.add_argument("--json", help="also write every run to this JSON file")
    args = parser.parse_args(argv)
    if args.seeds is None:
        args.seeds = 2 if args.quick else 5
    if args.datasets is None:
        args.datasets = ["breast_cancer"] if args.quick else list(DATASETS)
    ga_shape = (args.ga_population, args.ga_generations)
    tasks = [] if args.overhead_only else [f"{d}/{m}" for m in args.models for d in args.datasets]
    runs: list[Run] = []
    with threadpool_limits(limits=1, user_api="blas"):
        costs = overhead(args.methods, 80, args.cv, repeats=3)
        for task in tasks:
            for seed in range(1, args.seeds + 1):
                budget = args.budget or 60
                methods = list(args.methods)
                if "ga-searchcv" in methods:  # it sets the budget of the others
                    methods.remove("ga-searchcv")
                    run, _ = run_one(task, "ga-searchcv", seed, 0, args.cv, args.n_jobs, ga_shape)
                    runs.append(run)
                    budget = run.fits
                random.Random(seed).shuffle(methods)  # no method always runs on a warm machine
                for method in methods:
                    run, _ = run_one(task, method, seed, budget, args.cv, args.n_jobs, ga_shape)
                    runs.append(run)
                print(f"{task} seed {seed}: " + ", ".join(
                    f"{r.method} {r.cv_score:.4f}/{r.seconds:.1f}s" for r in runs if r.task == task and r.seed == seed
                ), file=sys.stderr, flush=True)
    print(f"# scikit-learn search benchmark: {args.cv}-fold CV accuracy, GASearchCV population "
          f"{ga_shape[0]} x {ga_shape[1]} generations sets the fits of every method")
    if runs:
        print(report(runs))
    print(costs)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump([asdict(r) for r in runs], handle, indent=1)


if __name__ == "__main__":
    main()

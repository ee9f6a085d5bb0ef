"""Benchmark tasks: objectives to minimize, each with a library-neutral search space.

A task is a callable object with

* ``name``: unique, e.g. ``"branin"`` or ``"svm-wine"``;
* ``family``: ``"synthetic"`` or ``"bayesmark"``;
* ``space``: the space an optimizer searches, ``{name: spec}``;
* ``optimum``: the known minimum of the loss, or ``None`` when unknown;
* ``__call__(params) -> float``: the loss to MINIMIZE for one parameter set.

Parameter specs are plain tuples, so any library can read them:

* ``("float", low, high, scale)`` with scale ``"linear"``, ``"log"`` or ``"logit"``;
* ``("int", low, high, scale)`` with scale ``"linear"`` or ``"log"``;
* ``("cat", [choice, ...])``.

The logit scale (for fractions such as ``max_features`` in (0, 1)) appears only in a task's
``natural_space``. Few optimizers know that scale, so the ``space`` that optimizers search
lists each logit parameter as ``("float", logit(low), logit(high), "linear")``: optimizers sample
it uniformly on the logit scale, and the task applies the sigmoid before using the value.
Every optimizer therefore sees only the ``"linear"`` and ``"log"`` scales.

The Bayesmark tasks re-create the Bayesmark suite on current scikit-learn: an 80/20 train/test
split (``random_state=0``), and the loss is the mean 5-fold cross-validation loss on the 80%
(minus accuracy for classification, mean squared error for regression). Every model has a fixed
``random_state``, so a task is deterministic.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ParamSpec = tuple
SpaceSpec = dict[str, ParamSpec]


# --------------------------------------------------------------------------- logit scale


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def search_space(natural_space: SpaceSpec) -> SpaceSpec:
    """Return the space optimizers search: logit parameters become linear on the logit scale."""
    result = {}
    for name, spec in natural_space.items():
        if spec[0] == "float" and spec[3] == "logit":
            result[name] = ("float", logit(spec[1]), logit(spec[2]), "linear")
        else:
            result[name] = spec
    return result


def to_natural(natural_space: SpaceSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """Map a point of the search space back to natural values (sigmoid, int casting, clipping)."""
    result = {}
    for name, spec in natural_space.items():
        value = params[name]
        if spec[0] == "float":
            value = float(value)
            if spec[3] == "logit":
                value = sigmoid(value)
            value = min(max(value, spec[1]), spec[2])
        elif spec[0] == "int":
            value = min(max(int(round(float(value))), spec[1]), spec[2])
        result[name] = value
    return result


@dataclass(eq=False)
class Task:
    """A loss to minimize over ``space``; subclasses implement ``loss`` on natural values."""

    name: str
    family: str
    natural_space: SpaceSpec
    optimum: float | None = None
    space: SpaceSpec = field(init=False)

    def __post_init__(self) -> None:
        self.space = search_space(self.natural_space)

    def __call__(self, params: Mapping[str, Any]) -> float:
        return float(self.loss(to_natural(self.natural_space, params)))

    def loss(self, params: dict[str, Any]) -> float:
        raise NotImplementedError

    def for_seed(self, seed: int) -> Task:
        """The task a benchmark run with ``seed`` optimizes: this one, unless a task has variants."""
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


# --------------------------------------------------------------------------- synthetic


@dataclass(eq=False, repr=False)
class SyntheticTask(Task):
    """A closed-form test function of a parameter dict."""

    function: Callable[[dict[str, Any]], float] = lambda params: 0.0

    def loss(self, params: dict[str, Any]) -> float:
        return self.function(params)


def _vector(params: Mapping[str, Any], dimension: int) -> np.ndarray:
    return np.array([params[f"x{i}"] for i in range(dimension)], dtype=float)


def _box(dimension: int, low: float, high: float) -> SpaceSpec:
    return {f"x{i}": ("float", low, high, "linear") for i in range(dimension)}


def branin(params: Mapping[str, Any]) -> float:
    x1, x2 = params["x0"], params["x1"]
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


_HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_HARTMANN_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_HARTMANN_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def hartmann6(params: Mapping[str, Any]) -> float:
    x = _vector(params, 6)
    inner = np.sum(_HARTMANN_A * (x - _HARTMANN_P) ** 2, axis=1)
    return float(-np.sum(_HARTMANN_ALPHA * np.exp(-inner)))


def rosenbrock4(params: Mapping[str, Any]) -> float:
    x = _vector(params, 4)
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


ACKLEY_SHIFT = np.array([11.2, -7.5, 19.4, -23.1, 3.6])


def shifted_ackley5(params: Mapping[str, Any]) -> float:
    z = _vector(params, 5) - ACKLEY_SHIFT
    n = len(z)
    first = -20 * math.exp(-0.2 * math.sqrt(float(np.sum(z**2)) / n))
    second = -math.exp(float(np.sum(np.cos(2 * math.pi * z))) / n)
    return first + second + 20 + math.e


RASTRIGIN_SHIFT = np.array([1.3, -2.1, 0.7, 2.9, -0.4, 1.8])


def shifted_rastrigin6(params: Mapping[str, Any]) -> float:
    z = _vector(params, 6) - RASTRIGIN_SHIFT
    return float(10 * len(z) + np.sum(z**2 - 10 * np.cos(2 * math.pi * z)))


STYBLINSKI_TANG_ARGMIN = -2.903534027771177


def _styblinski_tang_1d(x: float | np.ndarray) -> Any:
    return (x**4 - 16 * x**2 + 5 * x) / 2


def styblinski_tang5(params: Mapping[str, Any]) -> float:
    return float(np.sum(_styblinski_tang_1d(_vector(params, 5))))


# The mixed task: each activation has its own best offset for ``x`` and its own penalty.
MIXED_ACTIVATION = {"relu": (1.2, 0.0), "tanh": (-0.8, 0.5), "sigmoid": (2.0, 1.0)}


def mixed(params: Mapping[str, Any]) -> float:
    """Int ``layers``, log-scale ``learning_rate``, categorical ``activation``, float ``x``.

    The minimum, 0, is at layers=7, learning_rate=10**-2.5, activation="relu", x=1.2.
    """
    best_x, penalty = MIXED_ACTIVATION[params["activation"]]
    return (
        (math.log10(params["learning_rate"]) + 2.5) ** 2
        + 0.1 * (params["layers"] - 7) ** 2
        + 0.5 * (params["x"] - best_x) ** 2
        + penalty
    )


def synthetic_tasks() -> list[Task]:
    """Return the closed-form tasks, each with its known ``optimum``."""
    return [
        SyntheticTask(
            "branin",
            "synthetic",
            {"x0": ("float", -5.0, 10.0, "linear"), "x1": ("float", 0.0, 15.0, "linear")},
            0.39788735772973816,
            branin,
        ),
        SyntheticTask("hartmann6", "synthetic", _box(6, 0.0, 1.0), -3.3223680114155156, hartmann6),
        SyntheticTask("rosenbrock4", "synthetic", _box(4, -2.0, 2.0), 0.0, rosenbrock4),
        SyntheticTask(
            "ackley5-shifted", "synthetic", _box(5, -32.768, 32.768), 0.0, shifted_ackley5
        ),
        SyntheticTask(
            "rastrigin6-shifted", "synthetic", _box(6, -5.12, 5.12), 0.0, shifted_rastrigin6
        ),
        SyntheticTask(
            "styblinski-tang5",
            "synthetic",
            _box(5, -5.0, 5.0),
            5 * float(_styblinski_tang_1d(STYBLINSKI_TANG_ARGMIN)),
            styblinski_tang5,
        ),
        SyntheticTask(
            "mixed",
            "synthetic",
            {
                "layers": ("int", 1, 20, "linear"),
                "learning_rate": ("float", 1e-5, 1.0, "log"),
                "activation": ("cat", ["relu", "tanh", "sigmoid"]),
                "x": ("float", -3.0, 3.0, "linear"),
            },
            0.0,
            mixed,
        ),
    ]


# --------------------------------------------------------------------------- Bayesmark

CLASSIFICATION_DATASETS = ("iris", "wine", "breast_cancer", "digits")
REGRESSION_DATASETS = ("diabetes",)

_TREE_SPACE: SpaceSpec = {
    "max_depth": ("int", 1, 15, "linear"),
    "min_samples_split": ("float", 0.01, 0.99, "logit"),
    "min_samples_leaf": ("float", 0.01, 0.49, "logit"),
    "min_weight_fraction_leaf": ("float", 0.01, 0.49, "logit"),
    "max_features": ("float", 0.01, 0.99, "logit"),
    "min_impurity_decrease": ("float", 0.0, 0.5, "linear"),
}
_LOGISTIC_SPACE: SpaceSpec = {
    "C": ("float", 1e-2, 1e2, "log"),
    "intercept_scaling": ("float", 1e-2, 1e2, "log"),
}


@dataclass(frozen=True)
class BayesmarkModel:
    """A model family: its space, how to build it, and whether its input is standardised."""

    natural_space: SpaceSpec
    make_classifier: Callable[[], Any] | None
    make_regressor: Callable[[], Any] | None
    standardised: bool
    # Path of the tuned parameters inside the pipeline, for ``set_params``.
    param_prefix: str = "model__"


def _logistic(l1_ratio: float) -> Callable[[], Any]:
    # liblinear is binary-only in current scikit-learn; one-vs-rest restores its old multiclass
    # scheme. l1_ratio=1 is the L1 penalty, l1_ratio=0 the L2 penalty.
    def make() -> Any:
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier

        return OneVsRestClassifier(
            LogisticRegression(solver="liblinear", l1_ratio=l1_ratio, random_state=0)
        )

    return make


def _models() -> dict[str, BayesmarkModel]:
    from sklearn import ensemble, neighbors, neural_network, svm, tree

    mlp_settings = {"solver": "adam", "early_stopping": True, "random_state": 0}
    return {
        "knn": BayesmarkModel(
            {"n_neighbors": ("int", 1, 25, "linear"), "p": ("int", 1, 4, "linear")},
            neighbors.KNeighborsClassifier,
            neighbors.KNeighborsRegressor,
            standardised=True,
        ),
        "svm": BayesmarkModel(
            {
                "C": ("float", 1.0, 1e3, "log"),
                "gamma": ("float", 1e-4, 1e-3, "log"),
                "tol": ("float", 1e-5, 1e-1, "log"),
            },
            lambda: svm.SVC(kernel="rbf", random_state=0),
            lambda: svm.SVR(kernel="rbf"),
            standardised=True,
        ),
        "dt": BayesmarkModel(
            _TREE_SPACE,
            lambda: tree.DecisionTreeClassifier(random_state=0),
            lambda: tree.DecisionTreeRegressor(random_state=0),
            standardised=False,
        ),
        "rf": BayesmarkModel(
            _TREE_SPACE,
            lambda: ensemble.RandomForestClassifier(n_estimators=10, random_state=0),
            lambda: ensemble.RandomForestRegressor(n_estimators=10, random_state=0),
            standardised=False,
        ),
        "mlp-adam": BayesmarkModel(
            {
                "hidden_layer_sizes": ("int", 50, 200, "linear"),
                "alpha": ("float", 1e-5, 10.0, "log"),
                "batch_size": ("int", 10, 250, "linear"),
                "learning_rate_init": ("float", 1e-5, 1e-1, "log"),
                "tol": ("float", 1e-5, 1e-1, "log"),
                "validation_fraction": ("float", 0.1, 0.9, "logit"),
                "beta_1": ("float", 0.5, 0.99, "logit"),
                "beta_2": ("float", 0.9, 1.0 - 1e-6, "logit"),
                "epsilon": ("float", 1e-9, 1e-6, "log"),
            },
            lambda: neural_network.MLPClassifier(**mlp_settings),
            lambda: neural_network.MLPRegressor(**mlp_settings),
            standardised=True,
        ),
        "ada": BayesmarkModel(
            {
                "n_estimators": ("int", 10, 100, "linear"),
                "learning_rate": ("float", 1e-4, 10.0, "log"),
            },
            lambda: ensemble.AdaBoostClassifier(random_state=0),
            lambda: ensemble.AdaBoostRegressor(random_state=0),
            standardised=False,
        ),
        "logistic-l1": BayesmarkModel(
            _LOGISTIC_SPACE, _logistic(1.0), None, True, "model__estimator__"
        ),
        "logistic-l2": BayesmarkModel(
            _LOGISTIC_SPACE, _logistic(0.0), None, True, "model__estimator__"
        ),
    }


@functools.cache
def load_split(dataset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load a scikit-learn toy dataset and split it 80/20 (``random_state=0``), cached per dataset.

    Returns:
        ``(X_train, X_test, y_train, y_test)``.
    """
    from sklearn.model_selection import train_test_split

    from sklearn import datasets

    features, target = getattr(datasets, f"load_{dataset}")(return_X_y=True)
    return tuple(train_test_split(features, target, test_size=0.2, random_state=0))


@dataclass(eq=False, repr=False)
class BayesmarkTask(Task):
    """Mean 5-fold CV loss of one scikit-learn model on the 80% training part of one dataset."""

    dataset: str = ""
    model: str = ""
    estimator: Any = None  # unfitted Pipeline; the tuned step is named "model"
    param_prefix: str = "model__"
    scoring: str = "accuracy"  # "accuracy" or "neg_mean_squared_error": loss = -mean(score)
    cv: Any = None

    def train_data(self) -> tuple[np.ndarray, np.ndarray]:
        x_train, _, y_train, _ = load_split(self.dataset)
        return x_train, y_train

    def make_estimator(self, natural_params: Mapping[str, Any]) -> Any:
        """Return an unfitted pipeline set to natural (not logit-scaled) parameter values."""
        from sklearn.base import clone

        values = {self.param_prefix + name: value for name, value in natural_params.items()}
        return clone(self.estimator).set_params(**values)

    def loss(self, params: dict[str, Any]) -> float:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.model_selection import cross_val_score

        x_train, y_train = self.train_data()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            # MLP clips a batch_size larger than the training fold, as Bayesmark's did.
            warnings.filterwarnings("ignore", message=".*batch_size.*clipped", category=UserWarning)
            scores = cross_val_score(
                self.make_estimator(params),
                x_train,
                y_train,
                cv=self.cv,
                scoring=self.scoring,
                error_score="raise",
            )
        return -float(np.mean(scores))


def make_bayesmark_task(model: str, dataset: str) -> BayesmarkTask:
    """Build the task of one model (a key of the model table) on one dataset."""
    from sklearn.model_selection import KFold, StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    spec = _models()[model]
    classification = dataset in CLASSIFICATION_DATASETS
    make = spec.make_classifier if classification else spec.make_regressor
    if make is None:
        raise ValueError(f"Model {model!r} has no variant for the regression dataset {dataset!r}.")
    steps = [("scale", StandardScaler())] if spec.standardised else []
    splitter = StratifiedKFold if classification else KFold
    return BayesmarkTask(
        name=f"{model}-{dataset}",
        family="bayesmark",
        natural_space=spec.natural_space,
        dataset=dataset,
        model=model,
        estimator=Pipeline([*steps, ("model", make())]),
        param_prefix=spec.param_prefix,
        scoring="accuracy" if classification else "neg_mean_squared_error",
        cv=splitter(n_splits=5, shuffle=True, random_state=0),
    )


FAST_BAYESMARK = (  # each evaluation takes about 10-40 ms on one core
    ("knn", "wine"),
    ("svm", "iris"),
    ("dt", "wine"),
    ("logistic-l1", "breast_cancer"),
    ("svm", "diabetes"),
    ("dt", "diabetes"),
)


#: Bayesmark tasks left out of the wide set: one evaluation takes over 0.25 s on one core (AdaBoost
#: everywhere, the MLP beyond the two smallest datasets, kNN and logistic regression on digits).
SLOW_BAYESMARK = (
    "knn-digits", "mlp-adam-breast_cancer", "mlp-adam-digits", "mlp-adam-diabetes", "ada-iris", "ada-wine",
    "ada-breast_cancer", "ada-digits", "ada-diabetes", "logistic-l1-digits", "logistic-l2-digits",
)


def bayesmark_tasks(full: bool = False) -> list[BayesmarkTask]:
    """Return the Bayesmark tasks: a fast subset by default, every model x dataset if ``full``."""
    if not full:
        return [make_bayesmark_task(model, dataset) for model, dataset in FAST_BAYESMARK]
    tasks = []
    for model, spec in _models().items():
        for dataset in CLASSIFICATION_DATASETS:
            tasks.append(make_bayesmark_task(model, dataset))
        if spec.make_regressor is not None:
            for dataset in REGRESSION_DATASETS:
                tasks.append(make_bayesmark_task(model, dataset))
    return tasks


def all_tasks(full: bool = False) -> list[Task]:
    """Return the synthetic tasks, then the Bayesmark tasks (the fast subset unless ``full``)."""
    return synthetic_tasks() + bayesmark_tasks(full)


# --------------------------------------------------------------------------- COCO's BBOB

#: The 24 noiseless functions of COCO's BBOB suite, in order (f1 to f24).
BBOB_FUNCTIONS = (
    "sphere", "ellipsoid", "rastrigin", "bueche-rastrigin", "linear-slope", "attractive-sector",
    "step-ellipsoid", "rosenbrock", "rosenbrock-rotated", "ellipsoid-rotated", "discus", "bent-cigar",
    "sharp-ridge", "different-powers", "rastrigin-rotated", "weierstrass", "schaffer-f7",
    "schaffer-f7-ill", "griewank-rosenbrock", "schwefel", "gallagher-101", "gallagher-21", "katsuura",
    "lunacek-bi-rastrigin",
)


#: COCO writes the optimal point into the working folder, which is the whole process's.
_BBOB_FOLDER_LOCK = threading.Lock()


@functools.cache
def _bbob_problem(function: int, instance: int, dimension: int) -> tuple[Any, float]:
    """COCO's problem and its optimal value, once per process.

    COCO's Python interface does not publish the optimal value; ``_best_parameter("print")``
    writes the optimal point to a file in the working folder, so it runs in a folder of its own,
    one thread at a time.
    """
    try:
        import cocoex
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("the BBOB tasks need COCO: pip install coco-experiment") from error
    suite = cocoex.Suite("bbob", f"instances: {instance}",
                         f"dimensions: {dimension} function_indices: {function}")
    problem = next(iter(suite))
    if problem.id_instance != instance:  # COCO falls back to another instance with only a warning
        raise ValueError(f"COCO has no BBOB instance {instance} of f{function} in {dimension}-D")
    here = os.getcwd()
    with _BBOB_FOLDER_LOCK, tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        try:
            problem._best_parameter("print")
            best = np.loadtxt(os.path.join(folder, "._bbob_problem_best_parameter.txt"), ndmin=1)
        finally:
            os.chdir(here)
    return problem, float(problem(best))


@dataclass(eq=False, repr=False)
class BbobTask(Task):
    """One function of COCO's BBOB suite on ``[-5, 5]^dimension``, as its distance to the optimum.

    The loss is ``f(x) - f_opt``, so the optimum is 0 whatever the instance. Each instance moves
    the optimum (for most functions to a random point of ``[-4, 4]^dimension``) and rotates most
    functions its own way, so no optimizer gains from starting at the centre of the box. As in COCO's own
    experiments, a benchmark repeat runs on an instance of its own: seed ``s`` on instance
    ``s + 1`` (:meth:`for_seed`).
    """

    function: int = 1
    instance: int = 1
    dimension: int = 5

    def for_seed(self, seed: int) -> BbobTask:
        if seed < 0:
            raise ValueError(f"a BBOB run needs a seed >= 0 (instance seed + 1), got {seed}")
        return dataclasses.replace(self, instance=seed + 1)

    def loss(self, params: dict[str, Any]) -> float:
        problem, optimum = _bbob_problem(self.function, self.instance, self.dimension)
        return float(problem(_vector(params, self.dimension))) - optimum


def bbob_tasks(dimension: int = 5) -> list[BbobTask]:
    """Return the 24 BBOB functions in ``dimension`` dimensions (instance 1 until :meth:`BbobTask.for_seed`)."""
    return [
        BbobTask(f"bbob-f{index:02d}-{name}", "bbob", _box(dimension, -5.0, 5.0), 0.0,
                 function=index, dimension=dimension)
        for index, name in enumerate(BBOB_FUNCTIONS, 1)
    ]


def find_task(name: str, full: bool = False) -> Task:
    """The task called ``name`` among every suite (the Bayesmark set per ``full``)."""
    for task in bbob_tasks() if name.startswith("bbob-") else all_tasks(full):
        if task.name == name:
            return task
    raise KeyError(f"no benchmark task named {name!r}")


__all__ = [
    "BBOB_FUNCTIONS",
    "BayesmarkModel",
    "BayesmarkTask",
    "BbobTask",
    "SLOW_BAYESMARK",
    "SyntheticTask",
    "Task",
    "all_tasks",
    "bayesmark_tasks",
    "bbob_tasks",
    "find_task",
    "load_split",
    "make_bayesmark_task",
    "search_space",
    "synthetic_tasks",
    "to_natural",
]

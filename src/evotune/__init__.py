"""evotune: hyperparameter tuning by hand, grid, random and evolutionary search."""

from evotune.exceptions import (
    ConfigError,
    EvotuneError,
    NonFiniteResultError,
    ObjectiveError,
    ParamsError,
    ResultError,
    SchemaVersionError,
    SpaceError,
    StorageError,
    StudyConflictError,
    StudyNotFoundError,
    TrialStateError,
)
from evotune.space import Categorical, Float, Int, Space
from evotune.strategies import EvolutionarySearch, GridSearch, ManualSearch, RandomSearch, Strategy
from evotune.study import Study, list_studies
from evotune.trial import Trial, TrialState

__version__ = "0.1.0"

__all__ = [
    "Categorical", "ConfigError", "EvolutionarySearch", "EvotuneError", "Float", "GridSearch", "Int", "ManualSearch",
    "NonFiniteResultError", "ObjectiveError", "ParamsError", "RandomSearch", "ResultError", "SchemaVersionError", "Space",
    "SpaceError", "StorageError", "Strategy", "Study", "StudyConflictError", "StudyNotFoundError",
    "Trial", "TrialState", "TrialStateError", "__version__", "list_studies",
]

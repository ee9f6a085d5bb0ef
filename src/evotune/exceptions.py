"""Errors raised by evotune.

Every error derives from :class:`EvotuneError`, and each subclass also inherits the
built-in exception that matches its meaning, so ``except ValueError`` keeps working::

    EvotuneError
    ├── SpaceError (ValueError)            an invalid search space definition
    ├── ParamsError (ValueError)           parameters that do not fit the space
    ├── ResultError (ValueError)           an objective result that cannot be recorded
    │   └── NonFiniteResultError           a metric that is NaN or infinite
    ├── ConfigError (ValueError)           an invalid option or configuration file entry
    ├── StudyNotFoundError (KeyError)      no study of that name in the storage
    ├── StudyConflictError (ValueError)    an existing study disagrees (space, direction, ...)
    ├── TrialStateError (RuntimeError)     a trial used in a state that forbids it
    ├── StorageError (RuntimeError)        the storage cannot be opened, read or written
    │   └── SchemaVersionError             the database comes from a newer evotune
    └── ObjectiveError (TypeError)         the objective, or its exception, cannot cross to or from a worker
"""

from __future__ import annotations


class EvotuneError(Exception):
    """Root of every error evotune raises on purpose."""


class SpaceError(EvotuneError, ValueError):
    """A search space or one of its distributions is invalid."""


class ParamsError(EvotuneError, ValueError):
    """A parameter set is missing a parameter, has an extra one, or a value outside the space."""


class ResultError(EvotuneError, ValueError):
    """An objective returned something that is not a finite number or a dict of them."""


class NonFiniteResultError(ResultError):
    """A metric is NaN or infinite: a real outcome (a diverged run), recorded as a FAILED trial."""


class ConfigError(EvotuneError, ValueError):
    """An option, a strategy setting or an entry of a configuration file is invalid."""


class StudyNotFoundError(EvotuneError, KeyError):
    """No study of the requested name exists in the storage."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable.
        return str(self.args[0]) if self.args else ""


class StudyConflictError(EvotuneError, ValueError):
    """An existing study of that name was created with a different space or settings."""


class TrialStateError(EvotuneError, RuntimeError):
    """A trial was told twice, or used in a state that does not allow the operation."""


class StorageError(EvotuneError, RuntimeError):
    """The storage cannot be opened, read or written."""


class SchemaVersionError(StorageError):
    """The database was written by a newer version of evotune."""


class ObjectiveError(EvotuneError, TypeError):
    """The objective cannot cross to or from a worker process or cluster.

    Raised when the objective cannot be serialized for the workers, or cannot be loaded in
    one, and when the objective raised in a worker an exception that ``catch=`` does not cover
    and that cannot be sent back (it does not survive pickling): this error then stands in for
    it, naming its type and message, with the worker's traceback.
    """

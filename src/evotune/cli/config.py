"""Reading a tuning configuration file (``tune.toml``, or YAML with the same layout).

The raw tables are read by :mod:`evotune.cli.document`, where YAML values mean what they mean
in TOML.

The file has four tables::

    [study]      name (required), storage (default: EVOTUNE_STORAGE, then sqlite:///evotune.db),
                 direction, metric
    [space]      one entry per parameter: { type = "float" | "int" | "categorical", ... },
                 or a plain list as a shorthand for a categorical
    [strategy]   type = "manual" | "grid" | "random" | "evolution", plus its settings
    [run]        command (required to run), cwd, env, timeout (per trial), metrics_file,
                 max_trials, n_jobs, time_budget, patience, target, max_failures

Every problem is reported as a :class:`ConfigError` that names the file, the table or key
and the offending value, e.g. ``tune.toml: [space.lr]: low must be < high, got low=0.1
high=0.01``; nothing runs on an invalid file.
"""

from __future__ import annotations

import difflib
import inspect
import math
import numbers
import os
import shlex
import string
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from evotune.cli.command import placeholder_problem
from evotune.cli.document import read_document
from evotune.exceptions import ConfigError, SpaceError
from evotune.space import Categorical, Distribution, Float, Int, Space
from evotune.storage import DEFAULT_URL
from evotune.strategies import STRATEGIES, GridSearch, Strategy, strategy_from_config

#: Placeholders a command may use besides the parameter names.
PLACEHOLDERS = ("params_json", "trial_dir", "python")
#: What filling a template with a value of the wrong kind raises ("{x:d}" with 0.5, "{x:c}" with -1).
_FORMAT_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError)

_TABLES = ("study", "space", "strategy", "run")
_STUDY_KEYS = ("name", "storage", "direction", "metric")
_RUN_KEYS = ("command", "cwd", "env", "timeout", "metrics_file", "max_trials", "n_jobs", "time_budget",
             "patience", "target", "max_failures")
_DISTRIBUTIONS: dict[str, tuple[type[Distribution], tuple[str, ...], tuple[str, ...]]] = {
    # type: (class, required keys, optional keys)
    "float": (Float, ("low", "high"), ("log", "step")),
    "int": (Int, ("low", "high"), ("log", "step")),
    "categorical": (Categorical, ("choices",), ("ordered",)),
}


@dataclass(frozen=True)
class RunSettings:
    """The ``[run]`` table: how to run one trial, and when to stop.

    Attributes:
        command: The program and its arguments, with ``{placeholders}``.
        cwd: Absolute working directory of the command (default: the config file's folder).
        env: Extra environment variables for the command.
        timeout: Seconds after which a trial's command is stopped and the trial FAILED.
        metrics_file: A file the command writes its metrics to (relative to ``cwd``).
        max_trials: Total trials of the study to reach.
        n_jobs: Trials run at the same time.
        time_budget: Seconds after which no new trial starts.
        patience: Stop after this many finished trials without improvement.
        target: Stop once the best value reaches it.
        max_failures: Stop after this many failed trials.
    """

    command: tuple[str, ...]
    cwd: str
    env: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    metrics_file: str | None = None
    max_trials: int | None = None
    n_jobs: int = 1
    time_budget: float | None = None
    patience: int | None = None
    target: float | None = None
    max_failures: int | None = None

    def with_overrides(self, source: str, **overrides: Any) -> RunSettings:
        """A copy with the given command-line values (None keeps the file's value), checked."""
        chosen = {key: value for key, value in overrides.items() if value is not None}
        updated = replace(self, **chosen)
        if updated.n_jobs != 1 and updated.metrics_file and "{trial_dir}" not in updated.metrics_file:
            raise ConfigError(
                f"{source}: [run]: metrics_file {updated.metrics_file!r} would be written by "
                f"{updated.n_jobs} trials at once; use a per-trial path such as "
                f"metrics_file = \"{{trial_dir}}/metrics.json\" (and pass {{trial_dir}} to the command)"
            )
        return updated


@dataclass(frozen=True)
class TuneConfig:
    """A parsed and validated configuration file."""

    source: str
    name: str
    storage: str
    direction: str
    metric: str | None
    space: Space
    strategy: Strategy | None
    strategy_config: dict[str, Any] | None
    run: RunSettings | None


class _Problems:
    """Builds ConfigErrors that start with ``file: [table.key]:``."""

    def __init__(self, source: str):
        self.source = source

    def __call__(self, where: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: [{where}]: {message}")


def storage_url(chosen: str | None = None) -> str:
    """The storage URL of a command: ``chosen`` (a file's [study] storage, or a --storage option), else
    the EVOTUNE_STORAGE environment variable, else sqlite:///evotune.db.

    ``evotune run`` and ``evotune worker`` pick their storage by this one rule, so the same
    file sends both to the same database: ``--storage``, then the file's [study] storage,
    then EVOTUNE_STORAGE, then the default.
    """
    return chosen or os.environ.get("EVOTUNE_STORAGE") or DEFAULT_URL


def load_config(path: str | Path, *, need_run: bool = True, grid_points: int | None = None) -> TuneConfig:
    """Read and validate a configuration file.

    Args:
        path: The TOML or YAML file.
        need_run: Require ``[run]`` with a ``command`` (False for commands that only need the space).
        grid_points: Values per float that the caller supplies for a grid (``evotune grid-size
            --points``): a grid ``[strategy]`` then need not give ``points`` itself.

    Raises:
        ConfigError: Naming the file, the table or key, and what is wrong.
    """
    path = Path(path)
    problem = _Problems(str(path))
    document = read_document(path)
    _check_keys(problem, "", document, _TABLES, what="table")
    study = _table(problem, document, "study")
    _check_keys(problem, "study", study, _STUDY_KEYS)
    name = _string(problem, "study", study, "name", required=True)
    storage = storage_url(_string(problem, "study", study, "storage"))
    direction = _string(problem, "study", study, "direction") or "minimize"
    if direction not in ("minimize", "maximize"):
        raise problem("study", f"direction must be 'minimize' or 'maximize', got {direction!r}")
    metric = _string(problem, "study", study, "metric")
    if "space" not in document:
        raise ConfigError(f"{path}: missing table [space] (one entry per parameter)")
    space = _space(problem, _table(problem, document, "space"))
    strategy_config = _table(problem, document, "strategy") if "strategy" in document else None
    strategy = _strategy(problem, strategy_config, space, grid_points) if strategy_config is not None else None
    run = None
    if "run" in document or need_run:
        run = _run(problem, _table(problem, document, "run"), space, path.resolve().parent)
    return TuneConfig(str(path), name, storage, direction, metric, space, strategy, strategy_config, run)


# -- tables ---------------------------------------------------------------------------------
def _table(problem: _Problems, document: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = document.get(name, {})
    if not isinstance(value, Mapping):
        raise problem(name, f"must be a table of keys, got {value!r}")
    return dict(value)


def _check_keys(problem: _Problems, where: str, table: Mapping[str, Any], allowed: tuple[str, ...],
                what: str = "key") -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            message = f"unknown {what} {key!r} (allowed: {', '.join(allowed)}){hint}"
            if not where:
                raise ConfigError(f"{problem.source}: {message}")
            raise problem(where, message)


def _string(problem: _Problems, where: str, table: Mapping[str, Any], key: str,
            required: bool = False) -> str | None:
    if key not in table:
        if required:
            raise problem(where, f"missing key {key!r}")
        return None
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise problem(where, f"{key} must be a non-empty string, got {value!r}")
    return value


def _space(problem: _Problems, table: dict[str, Any]) -> Space:
    if not table:
        raise problem("space", "define at least one parameter, e.g. lr = { type = \"float\", low = 1e-4, high = 0.1 }")
    parameters: dict[str, Distribution] = {}
    for name, spec in table.items():
        where = f"space.{name}"
        if name in PLACEHOLDERS:
            raise problem(where, f"the name {name!r} is reserved for the command placeholder {{{name}}}; rename it")
        parameters[name] = _distribution(problem, where, spec)
    try:
        return Space(parameters)
    except SpaceError as error:
        raise problem("space", str(error)) from None


def _distribution(problem: _Problems, where: str, spec: Any) -> Distribution:
    if isinstance(spec, list):  # shorthand: a list of choices
        spec = {"type": "categorical", "choices": spec}
    if not isinstance(spec, Mapping):
        raise problem(where, f"expected {{ type = \"float\" | \"int\" | \"categorical\", ... }} or a list of "
                             f"choices, got {spec!r}")
    kind = spec.get("type")
    if not isinstance(kind, str) or kind not in _DISTRIBUTIONS:  # a list or a table is not a name
        raise problem(where, f"type must be one of {', '.join(map(repr, _DISTRIBUTIONS))}, got {kind!r}")
    cls, required, optional = _DISTRIBUTIONS[kind]
    fields = {key: value for key, value in spec.items() if key != "type"}
    _check_keys(problem, where, fields, required + optional)
    for key in required:
        if key not in fields:
            raise problem(where, f"missing key {key!r} for a {kind}")
    arguments = [fields.pop(key) for key in required]
    try:
        return cls(*arguments, **fields)
    except SpaceError as error:
        message = str(error)
        prefix = f"{cls.__name__} "
        raise problem(where, message[len(prefix):] if message.startswith(prefix) else message) from None


def _strategy(problem: _Problems, table: dict[str, Any], space: Space, grid_points: int | None = None) -> Strategy:
    kind = table.get("type")
    if kind is None:
        raise problem("strategy", f"missing key 'type' (one of {', '.join(sorted(STRATEGIES))})")
    if not isinstance(kind, str) or kind not in STRATEGIES:
        raise problem("strategy", f"type must be one of {', '.join(sorted(STRATEGIES))}, got {kind!r}")
    signature = inspect.signature(STRATEGIES[kind].__init__)
    if not any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        allowed = ("type", *[p for p in signature.parameters if p != "self"])
        _check_keys(problem, "strategy", table, allowed)
    try:
        strategy = strategy_from_config(dict(table))
    except ConfigError as error:
        raise problem("strategy", str(error)) from None
    if isinstance(strategy, GridSearch) and strategy.points is None and grid_points is None:
        endless = [name for name, dist in space.items() if isinstance(dist, Float) and not dist.step]
        if endless:
            raise problem(
                "strategy", f"a grid needs a number of points for floats without a step ({', '.join(endless)}): "
                            f"add points = 5 to [strategy], or a step to [space.{endless[0]}]"
            )
    return strategy


def _run(problem: _Problems, table: dict[str, Any], space: Space, folder: Path) -> RunSettings:
    _check_keys(problem, "run", table, _RUN_KEYS)
    if "command" not in table:
        raise problem("run", "missing key 'command', e.g. command = [\"python\", \"train.py\", \"--lr\", \"{lr}\"]")
    command = _command(problem, table["command"], space)
    cwd = folder
    if "cwd" in table:
        raw = _string(problem, "run", table, "cwd")
        cwd = (folder / raw).resolve()  # type: ignore[operator]
        if not cwd.is_dir():
            raise problem("run", f"cwd {raw!r} is not a folder (resolved to {cwd})")
    env = table.get("env", {})
    if not isinstance(env, Mapping) or not all(
        isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in env.values()
    ):
        raise problem("run", f"env must be a table of NAME = \"value\", got {env!r}")
    for name in env:
        if not name or "=" in name or "\0" in name:
            raise problem("run", f"env name {name!r} is not a valid environment variable name (empty, or holds '=')")
    metrics_file = _string(problem, "run", table, "metrics_file")
    if metrics_file is not None:
        _check_template(problem, "run", "metrics_file", metrics_file, space)
    n_jobs = table.get("n_jobs", 1)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or not (n_jobs >= 1 or n_jobs == -1):
        raise problem("run", f"n_jobs must be an integer >= 1 (or -1 for one per core), got {n_jobs!r}")
    target = table.get("target")
    if target is not None and (not _is_number(target) or not math.isfinite(target)):
        raise problem("run", f"target must be a finite number, got {target!r}")
    settings = RunSettings(
        command=command, cwd=str(cwd), env={str(k): str(v) for k, v in env.items()},
        timeout=_positive(problem, table, "timeout", integer=False), metrics_file=metrics_file,
        max_trials=_positive(problem, table, "max_trials", integer=True), n_jobs=n_jobs,
        time_budget=_positive(problem, table, "time_budget", integer=False),
        patience=_positive(problem, table, "patience", integer=True),
        target=None if target is None else float(target),
        max_failures=_positive(problem, table, "max_failures", integer=True),
    )
    return settings  # checked with the command line's values by with_overrides


def _command(problem: _Problems, raw: Any, space: Space) -> tuple[str, ...]:
    if isinstance(raw, str):  # split like a shell would, but nothing runs through a shell
        try:
            raw = shlex.split(raw)
        except ValueError as error:
            raise problem("run", f"command {raw!r} cannot be split into arguments: {error}") from None
    if not isinstance(raw, list) or not raw:
        raise problem("run", f"command must be a non-empty list of arguments, got {raw!r}")
    if isinstance(raw[0], str) and not raw[0].strip():
        raise problem("run", f"command[0] must name a program, got {raw[0]!r}")
    arguments = []
    for index, argument in enumerate(raw):
        if isinstance(argument, bool) or not isinstance(argument, (str, int, float)):
            raise problem("run", f"command[{index}] must be a string, got {argument!r}")
        argument = str(argument)
        _check_template(problem, "run", f"command[{index}]", argument, space)
        arguments.append(argument)
    return tuple(arguments)


def _check_template(problem: _Problems, where: str, key: str, template: str, space: Space) -> None:
    """Check that every ``{placeholder}`` names a parameter or a known placeholder, and that the
    template formats with every choice and both bounds of each parameter it uses."""
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        raise problem(where, f"{key} {template!r}: {error} (write {{{{ and }}}} for literal braces)") from None
    known = [*space, *PLACEHOLDERS]
    for name in fields:
        unusable = placeholder_problem(name) if name in space else None
        if unusable is not None:
            raise problem(where, f"{key} {template!r}: {unusable}")
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {{{close[0]}}}?" if close else ""
            if not close and not name.isidentifier():
                hint = "; for literal braces (say, a dict in a python -c one-liner) write {{ and }}"
            raise problem(where, f"{key} {template!r}: unknown placeholder {{{name}}} (parameters and "
                                 f"placeholders: {', '.join(known)}){hint}")
    values = {**space.sample(np.random.default_rng(0)), "params_json": "{}", "trial_dir": "/tmp", "python": "python"}
    formatter = string.Formatter()
    for _, name, spec, conversion in formatter.parse(template):
        if name not in space:
            continue
        failures = []  # a format spec may suit some values only: try each field alone with each
        candidates = _extreme_values(space[name])
        for value in candidates:
            try:
                shown = formatter.convert_field(value, conversion)
                formatter.format_field(shown, formatter.vformat(spec or "", (), values))
            except _FORMAT_ERRORS as error:
                failures.append((value, error))
        if failures and len(failures) < len(candidates):
            value, error = failures[0]
            raise problem(where, f"{key} {template!r} fails for {name} = {value!r}: {error}")
        if failures:
            raise problem(where, f"{key} {template!r}: {failures[0][1]}")
    try:
        template.format_map(values)
    except _FORMAT_ERRORS as error:
        raise problem(where, f"{key} {template!r}: {error}") from None


def _extreme_values(distribution: Distribution) -> list[Any]:
    """The values a template is checked with: every choice, or a number's two bounds."""
    if isinstance(distribution, Categorical):
        return list(distribution.choices)
    return [distribution.from_unit(0.0), distribution.from_unit(1.0)]


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _positive(problem: _Problems, table: Mapping[str, Any], key: str, integer: bool) -> Any:
    value = table.get(key)
    if value is None:
        return None
    ok = isinstance(value, int) if integer else _is_number(value) and math.isfinite(value)
    if isinstance(value, bool) or not ok or not value > 0:
        kind = "an integer" if integer else "a number of seconds"
        raise problem("run", f"{key} must be {kind} > 0, got {value!r}")
    return value if integer else float(value)

"""``evotune worker``: one more worker on a study shared through a database.

Start the same command on as many machines (or terminals) as you like; they share the study
through its storage (PostgreSQL across machines, SQLite on one machine): trial numbers are
unique, ``--max-trials`` is a budget for all workers together, and a worker that dies has
its trial marked FAILED ("worker lost") by the others after the grace period, then retried.

The objective comes from one of:

* ``--objective module:function``: a Python function ``function(params) -> value or dict``,
  imported from ``module`` (a module on the path or in the current folder, or a file
  ``path/to/train.py``). The study must exist already (created from Python, or by
  ``evotune run``): its space, direction and strategy come from the storage.
* ``--config tune.toml``: the command of the file's ``[run]`` table, as ``evotune run``
  runs it; the study is created when it does not exist yet. The table's limits
  (``max_trials``, ``n_jobs``, ``time_budget``, ``patience``, ``target``, ``max_failures``)
  apply unless the worker's options override them, and are checked as ``evotune run``
  checks them.
"""

from __future__ import annotations

import importlib
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from evotune.cli.config import load_config, storage_url
from evotune.cli.main import check_n_jobs, load_study, main
from evotune.cli.run import EXIT_INTERRUPTED, RepeatingFailureStop, check_not_all_failed, stop_after_interrupt
from evotune.exceptions import ConfigError
from evotune.execution.objective import worker_name
from evotune.execution.pool import resolve_n_jobs
from evotune.results import error_text
from evotune.storage import DEFAULT_URL, redact_url
from evotune.study import Study
from evotune.trial import Trial, TrialState


def import_objective(spec: str) -> Callable[..., Any]:
    """The callable named by ``module:function`` or ``path/to/file.py:function``.

    A file's folder is put on ``sys.path`` and the file imported under its own name, so
    worker processes (``--n-jobs``) import it the same way.

    Raises:
        ConfigError: For a malformed spec, a module that cannot be imported, a missing
            attribute or one that is not callable.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"--objective must look like module:function or path/to/file.py:function, got {spec!r}")
    if module_name.endswith(".py") or "/" in module_name or "\\" in module_name:
        path = Path(module_name).resolve()
        if not path.is_file():
            raise ConfigError(f"--objective {spec!r}: file {str(path)!r} does not exist")
        folder, module_name = str(path.parent), path.stem
    else:
        folder = str(Path.cwd())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as error:  # noqa: BLE001 - any import failure is the user's to fix
        raise ConfigError(f"--objective {spec!r}: cannot import {module_name!r}: {error_text(error)}") from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"--objective {spec!r}: {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(f"--objective {spec!r}: {attribute!r} is not callable, got {target!r}")
    return target


@dataclass
class _Work:
    """What a worker runs: the study, its objective, and the limits of ``optimize``."""

    study: Study
    objective: Callable[..., Any]
    runs_commands: bool
    url: str
    n_jobs: int
    limits: dict[str, Any]  # for optimize: max_trials, timeout, patience, target, max_failures


def _work(name: str | None, objective: str | None, config: str | None, storage: str | None,
          max_trials: int | None, n_jobs: int | None, time_budget: float | None,
          stops: dict[str, Any]) -> _Work:
    """The study, objective and limits from the command line (and, with --config, the file's [run]);
    ``stops`` holds the options patience, target and max_failures (None when not given)."""
    if (objective is None) == (config is None):
        raise ConfigError("give the objective with exactly one of --objective module:function or --config tune.toml")
    if objective is not None:
        if name is None:
            raise ConfigError("give the study NAME with --objective (or use --config tune.toml)")
        url = storage_url(storage)
        return _Work(load_study(name, url), import_objective(objective), False, url,
                     1 if n_jobs is None else n_jobs, {"max_trials": max_trials, "timeout": time_budget, **stops})
    from evotune.cli.command import CommandObjective

    assert config is not None
    tune = load_config(config)
    assert tune.run is not None
    if name is not None and name != tune.name:
        raise ConfigError(f"study NAME {name!r} differs from the name in {config}: {tune.name!r}")
    settings = tune.run.with_overrides(config, max_trials=max_trials, n_jobs=n_jobs, time_budget=time_budget,
                                       **stops)
    url = storage or tune.storage  # tune.storage: the file's, else EVOTUNE_STORAGE, else the default
    study = Study(tune.space, direction=tune.direction, metric=tune.metric, strategy=tune.strategy,
                  storage=url, name=tune.name)
    command = CommandObjective(settings.command, cwd=settings.cwd, env=settings.env, timeout=settings.timeout,
                               metrics_file=settings.metrics_file, metric=study.metric,
                               metric_source=config)
    limits = {"max_trials": settings.max_trials, "timeout": settings.time_budget, "patience": settings.patience,
              "target": settings.target, "max_failures": settings.max_failures}
    return _Work(study, command, True, url, settings.n_jobs, limits)


def _trial_line(study: Study, trial: Trial) -> str:
    if trial.state is TrialState.COMPLETE:
        return f"trial {trial.number} {study.metric or 'value'}={trial.value:.6g}  {trial.params}"
    reason = (trial.error or "").strip().splitlines()
    return f"trial {trial.number} FAILED: {reason[0] if reason else ''}  {trial.params}"


@main.command("worker")
@click.argument("name", required=False)
@click.option("--objective", "objective_spec", metavar="MODULE:FUNCTION",
              help="Python objective: module:function or path/to/file.py:function.")
@click.option("--config", type=click.Path(exists=True, dir_okay=False),
              help="A tune.toml whose [run] command is the objective (as for `evotune run`); its [run] "
                   "limits apply unless the options below override them.")
@click.option("--storage", default=None,
              help=f"Storage URL shared by the workers, e.g. postgresql://user@host/db (default: with --config, "
                   f"the file's [study] storage; then EVOTUNE_STORAGE, then {DEFAULT_URL}; as `evotune run`).")
@click.option("--max-trials", "-n", type=click.IntRange(min=1), help="Total trials of the study, all workers together.")
@click.option("--n-jobs", "-j", type=int, callback=check_n_jobs,
              help="Trials this worker runs at once (-1: one per core; default: the config's n_jobs, else 1).")
@click.option("--time-budget", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Start no new trial after this long.")
@click.option("--patience", type=click.IntRange(min=1),
              help="Stop after this many trials of this worker without improvement.")
@click.option("--target", type=float, help="Stop once the study's best value reaches this.")
@click.option("--max-failures", type=click.IntRange(min=1), help="Stop after this many failed trials of this worker.")
@click.option("--retries", type=click.IntRange(min=0), default=1, show_default=True,
              help="Times a trial whose worker died is run again.")
@click.option("--heartbeat", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              metavar="SECONDS", help="Seconds between two signs of life of this worker's trials.")
@click.option("--grace", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Silence after which another worker's trial counts as lost (default: 6 heartbeats, >= 60 s).")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when on a terminal).")
@click.option("--quiet", "-q", is_flag=True, help="No line per finished trial.")
@click.pass_context
def worker_command(ctx: click.Context, name: str | None, objective_spec: str | None, config: str | None,
                   storage: str | None, max_trials: int | None, n_jobs: int | None, time_budget: float | None,
                   patience: int | None, target: float | None, max_failures: int | None, retries: int,
                   heartbeat: float, grace: float | None, progress: bool | None, quiet: bool) -> None:
    """Run trials of study NAME as one of many workers sharing its storage.

    Start it on each machine; stop it with Ctrl-C or SIGTERM (as `evotune run`: its running
    commands are stopped, its running trials marked FAILED, "interrupted", and it exits with
    code 130) or let it stop at --max-trials, when the strategy is exhausted, after
    --time-budget, or at --patience, --target or --max-failures. On start it queues again the
    trials a Ctrl-C cut short, once each, as `evotune run` does on resume.

    \b
    Examples:
      evotune worker mlp --objective train:objective --storage postgresql://tuner@db/studies -n 500
      evotune worker mlp --objective ./train.py:objective -j 4
      evotune worker --config tune.toml --storage postgresql://tuner@db/studies
    """
    stops = {"patience": patience, "target": target, "max_failures": max_failures}
    work = _work(name, objective_spec, config, storage, max_trials, n_jobs, time_budget, stops)
    study, n_jobs = work.study, work.n_jobs
    me = worker_name()
    executor = None
    if work.runs_commands and resolve_n_jobs(n_jobs) > 1:  # a command runs in its own process: threads are enough
        executor = ThreadPoolExecutor(resolve_n_jobs(n_jobs), thread_name_prefix="evotune-trial")
        n_jobs = 1
    before = len(study.trials)
    budget = work.limits["max_trials"]
    requeued = study.requeue_interrupted(budget, work.limits["target"])  # as `evotune run` on resume
    click.echo(f"worker {me} on study {study.name!r} in {redact_url(work.url)}: {before} trials so far"
               + (f", {len(requeued)} interrupted trial(s) queued again" if requeued else "")
               + (f", budget {budget}" if budget else ""), err=True)
    ran: list[Trial] = []
    first_of_many = RepeatingFailureStop()
    callbacks: list[Callable[[Study, Trial], Any]] = [lambda _study, trial: ran.append(trial), first_of_many]
    if not quiet:
        callbacks.append(lambda _study, trial: click.echo(_trial_line(study, trial), err=True))
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        study.optimize(work.objective, **work.limits, n_jobs=n_jobs, executor=executor,
                       show_progress=progress, callbacks=callbacks, retries=retries,
                       heartbeat_interval=heartbeat, grace_period=grace)
    except KeyboardInterrupt:
        stop_after_interrupt(executor)  # as `evotune run`: the running commands are stopped, not awaited
        click.echo(f"worker {me} interrupted: its running trials are marked FAILED (interrupted)", err=True)
        ctx.exit(EXIT_INTERRUPTED)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
    complete = sum(t.state is TrialState.COMPLETE for t in ran)
    click.echo(f"worker {me}: ran {len(ran)} trials ({complete} complete, {len(ran) - complete} failed); "
               f"study {study.name!r} has {len(study.trials)} trials; stopped: {study.stop_reason}")
    best = study.best
    if best is not None:
        click.echo(f"best: trial {best.number}, {study.metric or 'value'} = {best.value:.6g}: {best.params}")
    first_of_many.check()
    check_not_all_failed(study, ran)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt

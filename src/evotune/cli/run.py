"""``evotune run``: tune a training command from a configuration file; ``evotune grid-size``."""

from __future__ import annotations

import os
import shlex
import signal
import statistics
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import click
import numpy as np

from evotune.cli.command import (
    CANNOT_START,
    SEVERAL_METRICS,
    CommandObjective,
    program_problem,
    render,
    stop_running_commands,
)
from evotune.cli.config import RunSettings, TuneConfig, load_config
from evotune.cli.main import check_n_jobs, main, open_existing, sqlite_file, stdout_console
from evotune.cli.tables import duration_text, number_text, ranked, trials_table
from evotune.exceptions import ConfigError, StorageError, StudyNotFoundError
from evotune.space import Float, Space
from evotune.storage import redact_url
from evotune.storage.connection import missing_folder
from evotune.strategies import STRATEGIES, GridSearch, default_strategy
from evotune.strategies.grid import grid_cells_done
from evotune.study import Study
from evotune.trial import Trial, TrialState

#: Exit code after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


@main.command("run")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--n-jobs", "-j", type=int, callback=check_n_jobs, help="Trials run at the same time (-1: one per core).")
@click.option("--max-trials", "-n", type=click.IntRange(min=1), help="Total trials of the study to reach.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Per trial: stop its command and mark it FAILED after this long.")
@click.option("--time-budget", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Start no new trial after this long.")
@click.option("--patience", type=click.IntRange(min=1), help="Stop after this many trials without improvement.")
@click.option("--target", type=float, help="Stop once the best value reaches this.")
@click.option("--max-failures", type=click.IntRange(min=1), help="Stop after this many failed trials.")
@click.option("--storage", default=None, help="Storage URL (default: [study] storage, then EVOTUNE_STORAGE, "
              "then sqlite:///evotune.db).")
@click.option("--top", type=click.IntRange(min=0), default=10, show_default=True,
              help="Trials shown in the final leaderboard.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when on a terminal).")
@click.option("--quiet", "-q", is_flag=True, help="No line per finished trial.")
@click.option("--dry-run", is_flag=True, help="Check the file and its storage and show the command of one trial; run nothing.")
@click.pass_context
def run_command(ctx: click.Context, config: str, n_jobs: int | None, max_trials: int | None, timeout: float | None,
                time_budget: float | None, patience: int | None, target: float | None, max_failures: int | None,
                storage: str | None, top: int, progress: bool | None, quiet: bool, dry_run: bool) -> None:
    """Tune the command of CONFIG (tune.toml): create the study or resume it, run trials, show the best.

    Options override the file's [run] values. Ctrl-C stops cleanly: the running command is
    stopped, its trial marked FAILED ("interrupted"), and the same command resumes the
    study (the interrupted trial runs again).

    \b
    Examples:
      evotune run tune.toml
      evotune run tune.toml --n-jobs 2 --max-trials 50
      evotune run tune.toml --dry-run
    """
    tune = load_config(config)
    assert tune.run is not None
    settings = tune.run.with_overrides(
        config, n_jobs=n_jobs, max_trials=max_trials, timeout=timeout, time_budget=time_budget,
        patience=patience, target=target, max_failures=max_failures,
    )
    url = storage or tune.storage
    if dry_run:
        _show_plan(tune, settings, url, "--storage" if storage else f"{config}: [study] storage")
        return
    study = Study(tune.space, direction=tune.direction, metric=tune.metric, strategy=tune.strategy,
                  storage=url, name=tune.name)
    resumed = len(study.trials)
    requeued = study.requeue_interrupted(settings.max_trials, settings.target)
    _announce(study, settings, url, resumed, requeued)
    objective = CommandObjective(settings.command, cwd=settings.cwd, env=settings.env, timeout=settings.timeout,
                                 metrics_file=settings.metrics_file, metric=study.metric,
                                 metric_source=config)
    finished: list[Trial] = []
    first_of_many = RepeatingFailureStop()
    callbacks = [lambda _study, trial: finished.append(trial), first_of_many]
    if not quiet:
        callbacks.append(lambda _study, trial: click.echo(_trial_line(study, trial), err=True))
    workers = (os.cpu_count() or 1) if settings.n_jobs == -1 else settings.n_jobs
    executor = ThreadPoolExecutor(workers, thread_name_prefix="evotune-trial") if workers > 1 else None
    with _sigterm_as_interrupt():
        try:
            study.optimize(
                objective, max_trials=settings.max_trials, timeout=settings.time_budget, target=settings.target,
                patience=settings.patience, max_failures=settings.max_failures, executor=executor,
                show_progress=progress, callbacks=callbacks, retries=1,
            )
        except KeyboardInterrupt:
            stop_after_interrupt(executor)
            click.echo(f"interrupted: the running trials are marked FAILED (interrupted); run "
                       f"`evotune run {config}` again to resume", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        finally:
            if executor is not None:
                executor.shutdown(wait=True)
    _leaderboard(study, top)
    first_of_many.check()
    if not finished and study.stop_reason == "max_trials reached":
        click.echo(f"the study already has max_trials={settings.max_trials} trials; raise --max-trials to run more",
                   err=True)
    elif not finished and study.stop_reason == "queue empty":
        click.echo(f"nothing to run: the manual queue is empty; queue guesses with `evotune enqueue {study.name}`",
                   err=True)
    check_not_all_failed(study, finished)


def check_not_all_failed(study: Study, finished: list[Trial]) -> None:
    """Exit 1, naming the last error, when every trial this run finished failed (a broken
    command, interpreter or data, which a script must be able to tell from a good run)."""
    if finished and all(t.state is TrialState.FAILED for t in finished):
        last = (finished[-1].error or "").strip()
        raise click.ClickException(
            f"all {len(finished)} trials of this run failed; the last one (trial {finished[-1].number}): {last}\n"
            f"see `evotune trial {study.name} {finished[-1].number}` for its output"
        )


def _show_plan(tune: TuneConfig, settings: RunSettings, url: str, given_by: str) -> None:
    """What ``--dry-run`` prints; it refuses what the run would refuse, the storage included
    (``given_by`` says where its URL comes from)."""
    sample = tune.space.sample(np.random.default_rng(0))
    argv = [render(argument, sample, "<trial_dir>") for argument in settings.command]
    problem = program_problem(argv[0], settings.cwd, settings.env)
    if problem is not None:
        raise ConfigError(f"{tune.source}: [run]: command: {problem}")
    record, unreadable = _stored_record(tune, url)
    if unreadable is None and record is None:  # a new SQLite file: the run creates it, in its folder
        path = sqlite_file(url)
        unreadable = None if path is None else missing_folder(str(path))
    if unreadable is not None:
        raise StorageError(f"{given_by} {redact_url(url)!r}: {unreadable}; the run would stop there")
    _check_stored(tune, record, url)
    strategy = _strategy_text(tune, record)
    click.echo(f"study {tune.name!r} in {redact_url(url)}: {tune.direction} {tune.metric or 'value'}")
    click.echo(f"space: {tune.space!r}")
    click.echo(f"strategy: {strategy}")
    click.echo(f"a trial runs, in {settings.cwd}:\n  {shlex.join(argv)}")
    limits = {k: getattr(settings, k) for k in ("max_trials", "n_jobs", "timeout", "time_budget", "patience",
                                                 "target", "max_failures", "metrics_file")}
    click.echo("run: " + ", ".join(f"{k}={v}" for k, v in limits.items() if v is not None))


def _stored_record(tune: TuneConfig, url: str) -> tuple[Any, str | None]:
    """The stored record of the file's study (None for a new study), or why the storage could not be read."""
    try:
        opened = open_existing(url)
        if opened is None:
            return None, None
        try:
            return opened.load_study(tune.name), None
        finally:
            opened.close()
    except StudyNotFoundError:
        return None, None
    except StorageError as error:
        return None, str(error)


def _check_stored(tune: TuneConfig, record: Any, url: str) -> None:
    """Refuse, as the run would, a file whose space, direction or metric differ from its stored study."""
    if record is None:
        return
    where = f"study {tune.name!r} in {redact_url(url)}"
    if Space.from_dict(record.space) != tune.space:
        raise ConfigError(f"{where} has another space: stored {Space.from_dict(record.space)!r}, "
                          f"{tune.source} gives {tune.space!r}; the run would refuse it")
    if record.direction != tune.direction:
        raise ConfigError(f"{where} has direction={record.direction!r}, {tune.source} gives "
                          f"{tune.direction!r}; the run would refuse it")
    if tune.metric is not None and record.metric is not None and record.metric != tune.metric:
        raise ConfigError(f"{where} has metric={record.metric!r}, {tune.source} gives {tune.metric!r}; "
                          f"the run would refuse it")


def _strategy_text(tune: TuneConfig, record: Any) -> str:
    """What the run uses: the file's [strategy], else the study's stored one, else the default."""
    if tune.strategy is not None:
        return str(tune.strategy.to_config())
    if record is None:
        return f"{default_strategy().name} (the default, for a new study)"
    stored = record.attrs.get("strategy", record.strategy)
    if stored.get("type") not in STRATEGIES:
        return (f"{stored} (stored with the study, not one of evotune's own: the run would stop; "
                f"add a [strategy] table to switch strategy)")
    return f"{stored} (stored with the study)"


class RepeatingFailureStop:
    """A callback that stops the run at the first trial that every later one would repeat: its
    command reported several metrics while the study names none to optimize, or the command
    could not be started at all."""

    def __init__(self) -> None:
        self.trial: Trial | None = None

    def __call__(self, study: Study, trial: Trial) -> None:
        if self.trial is not None or trial.state is not TrialState.FAILED:
            return
        error = trial.error or ""
        if error.startswith(SEVERAL_METRICS):
            self.trial = trial
            study.stop("no metric named in [study]")
        elif error.startswith(CANNOT_START):
            self.trial = trial
            study.stop("the command cannot be started")

    def check(self) -> None:
        """Raise ConfigError (the trial's error names the file) when the run stopped for that reason."""
        if self.trial is not None:
            raise ConfigError(f"{self.trial.error}; the run stopped after trial {self.trial.number}")


def _announce(study: Study, settings: RunSettings, url: str, resumed: int, requeued: list[Trial]) -> None:
    state = f"resuming with {resumed} trials" if resumed else "new study"
    if requeued:
        state += f", {len(requeued)} interrupted trial(s) queued again"
    limits = [f"up to {settings.max_trials} trials" if settings.max_trials else "no trial limit (Ctrl-C stops)"]
    if settings.n_jobs != 1:
        limits.append(f"{settings.n_jobs if settings.n_jobs > 0 else os.cpu_count()} at a time")
    if settings.timeout:
        limits.append(f"{settings.timeout:g} s per trial")
    click.echo(f"study {study.name!r} in {redact_url(url)}: {state}; strategy {study.strategy.name}; "
               f"{', '.join(limits)}", err=True)


def _trial_line(study: Study, trial: Trial) -> str:
    params = " ".join(f"{k}={number_text(v)}" for k, v in trial.params.items())
    took = f" ({duration_text(trial.duration)})" if trial.duration is not None else ""
    if trial.state is TrialState.COMPLETE:
        return f"trial {trial.number} {study.metric or 'value'}={number_text(trial.value)}{took}  {params}"
    reason = (trial.error or "").strip().splitlines()
    return f"trial {trial.number} FAILED{took}: {reason[0] if reason else ''}  {params}"


def _leaderboard(study: Study, top: int) -> None:
    trials = study.trials
    complete = ranked(study, trials)
    failed = sum(t.state is TrialState.FAILED for t in trials)
    summary = (f"study {study.name!r}: {len(trials)} trials ({len(complete)} complete, {failed} failed); "
               f"stopped: {study.stop_reason}")
    console = stdout_console()
    if top and complete:
        console.print(trials_table(study, complete[:top], title=f"top {min(top, len(complete))}", rank=True))
    click.echo(summary)
    if complete:
        best = complete[0]
        params = " ".join(f"{k}={v}" for k, v in best.params.items())
        click.echo(f"best: trial {best.number}, {study.metric or 'value'} = {number_text(best.value)}: {params}")


class _sigterm_as_interrupt:
    """Within the block, SIGTERM stops the run like Ctrl-C (commands stopped, trials marked)."""

    def __enter__(self) -> None:
        self.previous: Any = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, _raise_interrupt)

    def __exit__(self, *exc: Any) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def stop_after_interrupt(executor: ThreadPoolExecutor | None) -> None:
    """Stop the commands of every running trial; a second Ctrl-C meanwhile is ignored."""
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
    try:
        stop_running_commands()
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


# -- planning ---------------------------------------------------------------------------------------
@main.command("grid-size")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--points", type=click.IntRange(min=2), help="Values per float without a step, and at most per "
              "log-scale int (default: the [strategy] points).")
@click.option("--storage", default=None, help="Storage URL (default: the file's [study] storage).")
def grid_size_command(config: str, points: int | None, storage: str | None) -> None:
    """Count the grid points of CONFIG's space, and estimate the time to run them all.

    The estimate (median duration of the study's completed trials x points left) is shown
    once the study has completed trials.

    \b
    Example:
      evotune grid-size tune.toml --points 5
    """
    tune = load_config(config, need_run=False, grid_points=points)
    if points is None and isinstance(tune.strategy, GridSearch):
        points = tune.strategy.points
    endless = [n for n, d in tune.space.items() if isinstance(d, Float) and not d.step]
    if endless and points is None:
        raise ConfigError(f"{config}: floats without a step ({', '.join(endless)}) have no grid; "
                          f"give --points N or points = N in [strategy]")
    axes = tune.space.grid_axes(points)
    size = tune.space.grid_size(points)
    shape = " x ".join(f"{name} {len(axis)}" for name, axis in zip(tune.space, axes, strict=True))
    click.echo(f"{size} grid points ({shape})")
    url = storage or tune.storage
    opened = open_existing(url)
    if opened is None or tune.name not in {s.name for s in opened.list_studies()}:
        return
    study = Study.load(tune.name, opened)
    if study.space != tune.space:
        click.echo(f"study {tune.name!r} in {redact_url(url)} has another space; no time estimate")
        return
    trials = study.trials
    durations = [t.duration for t in trials if t.state is TrialState.COMPLETE and t.duration is not None]
    if not durations:
        return
    median = statistics.median(durations)
    left = size - grid_cells_done(tune.space, axes, trials)
    jobs = tune.run.n_jobs if tune.run is not None else 1
    jobs = (os.cpu_count() or 1) if jobs == -1 else jobs
    click.echo(f"study {tune.name!r}: {len(trials)} trials, median duration {duration_text(median)}")
    click.echo(f"estimated total: {duration_text(median * size / jobs)} for all {size} points; "
               f"{left} points left: {duration_text(median * left / jobs)}"
               + (f" (with n_jobs={jobs})" if jobs > 1 else ""))

"""Running a training command as an objective.

The command runs without a shell, so parameter values are never interpreted (``;``, ``$()``
and spaces stay part of one argument). Each argument may hold ``{name}`` placeholders for
parameters, ``{params_json}`` (all parameters as one JSON argument) and ``{trial_dir}`` (a
scratch folder of the trial, removed afterwards). The command also finds the parameters as
JSON in the environment variable ``EVOTUNE_PARAMS``, and ``EVOTUNE_TRIAL_DIR``.

Metrics are read from the command's standard output, where each line may be a JSON object
(``{"val_accuracy": 0.91, "loss": 0.3}``) or ``name=value`` pairs (``epoch=3 loss=0.25``);
the last value of each name wins. With a metrics file, the file's values (a JSON object, or
lines as above) are read after the command exits and take precedence; when the command writes
no file, the metrics it printed count. A command that cannot be started at all fails its
trial with an error starting "cannot start the command", which ``evotune run`` stops on.

A non-zero exit, a timeout or a missing metric fails the trial, with the reason and the end
of the command's standard error; so do non-finite metrics (NaN, infinities, integers too large
for a float), and several metrics when the study names none to optimize. The ends of both
streams are kept in the trial's attrs (``stdout_tail``, ``stderr_tail``), with ``command``
and ``exit_code``.
"""

from __future__ import annotations

import collections
import json
import math
import os
import re
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from evotune.exceptions import ConfigError
from evotune.results import Report

ENV_PARAMS = "EVOTUNE_PARAMS"
ENV_TRIAL_DIR = "EVOTUNE_TRIAL_DIR"
ENV_METRICS_FILE = "EVOTUNE_METRICS_FILE"
#: Characters of each output stream kept with the trial.
TAIL_CHARS = 4000
#: Characters of standard error quoted in a failed trial's error.
ERROR_TAIL_CHARS = 1500
#: Seconds a stopped command gets to exit after SIGTERM before it is killed.
STOP_GRACE = 5.0
#: How the error of a trial starts when its command reported several metrics and the study
#: names none to optimize (a problem of the configuration, not of the trial).
SEVERAL_METRICS = "the command reported several metrics"
#: Start of the error of a trial whose command could not be started (every trial would fail alike).
CANNOT_START = "cannot start the command"

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:nan|inf|infinity)"
_PAIR = re.compile(rf"([A-Za-z_][\w.\-/]*)=({_NUMBER})", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s,;]+")
_EQUALS = re.compile(r"\s*=\s*")

_running: set[subprocess.Popen] = set()
_running_lock = threading.Lock()


def render(template: str, params: Mapping[str, Any], trial_dir: str = "") -> str:
    """Fill the placeholders of one argument (``{lr}``, ``{params_json}``, ``{trial_dir}``, and
    ``{python}``: the interpreter running evotune, so a script runs in the same environment).

    Raises:
        ConfigError: When a placeholder is a parameter whose name ``str.format`` cannot look up
            (see :func:`placeholder_problem`).
    """
    for _, name, _, _ in string.Formatter().parse(template):
        problem = placeholder_problem(name) if name is not None and name in params else None
        if problem is not None:
            raise ConfigError(f"command argument {template!r}: {problem}")
    return template.format_map({**params, "params_json": json.dumps(dict(params)), "trial_dir": trial_dir,
                                "python": sys.executable})


def placeholder_problem(name: str) -> str | None:
    """Why the parameter ``name`` cannot be a ``{placeholder}`` (``optimizer.lr``, ``a[b]``, ``0``);
    None when it can."""
    if "." not in name and "[" not in name and not name.isdecimal():
        return None
    renamed = re.sub(r"\W+", "_", name).strip("_")
    if not renamed or renamed[0].isdigit():
        renamed = f"param_{renamed}"
    return (f"parameter {name!r} cannot be used as a {{placeholder}}: str.format reads '.' and '[' in a "
            f"placeholder as attribute and index access, and digits as a position; rename the parameter "
            f"(e.g. {renamed}) or read all parameters as JSON from {{params_json}} or the {ENV_PARAMS} "
            f"environment variable")


def parse_metric_line(line: str) -> dict[str, float]:
    """The metrics on one output line: a JSON object, or only ``name=value`` pairs; else none."""
    text = line.strip()
    if not text:
        return {}
    if text.startswith("{") and text.endswith("}"):
        try:
            data = json.loads(text)
        except ValueError:
            return {}
        if not isinstance(data, dict):
            return {}
        return _numbers(data)
    tokens = [t for t in _SEPARATORS.split(_EQUALS.sub("=", text)) if t]
    pairs = [_PAIR.fullmatch(token) for token in tokens]
    if not pairs or not all(pairs):
        return {}
    return {match[1]: float(match[2]) for match in pairs if match is not None}


def parse_metrics(lines: Iterable[str]) -> dict[str, float]:
    """The metrics of many lines; a later value of a name replaces an earlier one."""
    metrics: dict[str, float] = {}
    for line in lines:
        metrics.update(parse_metric_line(line))
    return metrics


def stop_running_commands() -> None:
    """Stop every command this process started that is still running (after Ctrl-C).

    Each is sent SIGTERM at once, and what is left after one shared grace period is killed. A
    further Ctrl-C meanwhile kills the remaining commands at once; it is not raised again, as the
    caller is already handling the first one.
    """
    with _running_lock:
        processes = list(_running)
    for process in processes:  # all at once: they share one grace period, not one each
        if process.poll() is None:
            _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    interrupted = False
    for process in processes:
        try:
            _stop(process, 0.0 if interrupted else max(0.0, deadline - time.monotonic()), terminated=True)
        except KeyboardInterrupt:
            interrupted = True


class CommandObjective:
    """An objective that runs a command per trial and reads the metrics it prints.

    A plain, picklable object (no closure), so it can be sent to worker processes.

    Args:
        command: Program and arguments; placeholders as described in the module docstring.
        cwd: Working directory of the command (default: the current one).
        env: Extra environment variables.
        timeout: Seconds before the command is stopped and the trial fails.
        metrics_file: A file the command writes its metrics to, relative to ``cwd``
            (placeholders allowed). A file left by an earlier trial is removed first.
        metric: The metric the study optimizes; a run that does not report it fails.
        metric_source: The configuration file whose ``[study]`` names the metric. Given it
            and no ``metric``, a run that reports several metrics fails with a hint to name
            one there; without it, every metric is returned and the study decides.

    Example:
        >>> objective = CommandObjective(["python", "train.py", "--lr", "{lr}"], timeout=600)
        >>> report = objective({"lr": 0.01})  # doctest: +SKIP
    """

    def __init__(
        self, command: Sequence[str], *, cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None, timeout: float | None = None,
        metrics_file: str | None = None, metric: str | None = None, metric_source: str | None = None,
    ):
        if isinstance(command, str) or not command:
            raise ValueError(f"command must be a non-empty list of arguments, got {command!r}")
        self.command = tuple(str(argument) for argument in command)
        self.cwd = os.fspath(cwd) if cwd is not None else None
        self.env = dict(env or {})
        self.timeout = timeout
        self.metrics_file = metrics_file
        self.metric = metric
        self.metric_source = metric_source

    def __repr__(self) -> str:
        return f"CommandObjective({list(self.command)!r})"

    def __call__(self, params: Mapping[str, Any]) -> Report:
        with tempfile.TemporaryDirectory(prefix="evotune-trial-") as scratch:
            return self._run(dict(params), scratch)

    def _run(self, params: dict[str, Any], scratch: str) -> Report:
        argv = [render(argument, params, scratch) for argument in self.command]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env,
               ENV_PARAMS: json.dumps(params), ENV_TRIAL_DIR: scratch}
        metrics_path = self._metrics_path(params, scratch)
        attrs: dict[str, Any] = {"command": argv}
        if metrics_path is not None:
            if metrics_path.is_dir():
                return Report(attrs=attrs, error=f"metrics_file {str(metrics_path)!r} is a folder; name a file in it, "
                                                 f"such as {str(metrics_path / 'metrics.json')!r}")
            env[ENV_METRICS_FILE] = str(metrics_path)
            metrics_path.unlink(missing_ok=True)  # a file left by an earlier trial must not be read
        out_path, err_path = Path(scratch, "stdout.log"), Path(scratch, "stderr.log")
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            try:
                process = _start(argv, self.cwd, env, out, err)
            except OSError as error:
                return Report(attrs=attrs, error=f"{CANNOT_START} {argv[0]!r}: {error.strerror or error}"
                                                 f"{_program_hint(argv[0], self.cwd)}")
            reason = self._wait(process)
        attrs["exit_code"] = process.returncode
        stdout_tail, metrics = _scan(out_path)
        stderr_tail, _ = _scan(err_path, parse=False)
        attrs["stdout_tail"], attrs["stderr_tail"] = stdout_tail, stderr_tail
        if reason is None and process.returncode != 0:
            reason = _exit_reason(process.returncode)
        if reason is None and metrics_path is not None:
            if metrics_path.is_file():
                metrics.update(_read_metrics_file(metrics_path))  # its values take precedence
            elif not metrics:
                reason = f"the command wrote no metrics file {metrics_path} and printed no metrics"
        if reason is None and not metrics:
            reason = ("the command reported no metrics: print a JSON line such as "
                      "{\"accuracy\": 0.9} or name=value lines" + (" or write the metrics file" if metrics_path else ""))
        if reason is None and self.metric is not None and self.metric not in metrics:
            reason = f"the command did not report the metric {self.metric!r} (it reported {', '.join(sorted(metrics))})"
        if reason is None and self.metric is None and self.metric_source is not None and len(metrics) > 1:
            names = sorted(metrics)
            return Report(attrs=attrs, error=(
                f"{SEVERAL_METRICS} ({', '.join(names)}) and the study names none to optimize: add "
                f"metric = \"{names[0]}\" (or another of them) under [study] in {self.metric_source}"
            ))
        if reason is not None:
            return Report(attrs=attrs, error=_with_tail(reason, stderr_tail))
        if any(not math.isfinite(value) for value in metrics.values()):
            bad = ", ".join(f"{k}={v}" for k, v in metrics.items() if not math.isfinite(v))
            return Report(attrs=attrs, error=f"the command reported non-finite metrics: {bad}")
        return Report(result=metrics, attrs=attrs)

    def _metrics_path(self, params: dict[str, Any], scratch: str) -> Path | None:
        if self.metrics_file is None:
            return None
        return Path(self.cwd or ".", render(self.metrics_file, params, scratch))

    def _wait(self, process: subprocess.Popen) -> str | None:
        """Wait for the command; the reason it was stopped (timeout), or None when it exited."""
        try:
            process.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _stop(process)
            return f"timed out after {self.timeout:g} s"
        except BaseException:  # Ctrl-C: stop the command, then let the study mark the trial
            _stop(process)
            raise
        finally:
            if process.returncode is not None:  # else stop_running_commands must still find it
                with _running_lock:
                    _running.discard(process)
        return None


def _start(argv: list[str], cwd: str | None, env: dict[str, str], out: IO[bytes], err: IO[bytes]) -> subprocess.Popen:
    """Start the command in its own process group, so that stopping it reaches its children too."""
    options: dict[str, Any] = {}
    if os.name == "posix":
        options["start_new_session"] = True
    else:  # pragma: no cover - Windows
        options["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
    with _running_lock:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                   **options)
        _running.add(process)
    return process


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        if os.name == "posix":
            os.killpg(process.pid, sig)
        elif sig == signal.SIGTERM:  # pragma: no cover - Windows
            process.terminate()
        else:  # pragma: no cover - Windows
            process.kill()
    except (ProcessLookupError, PermissionError):
        pass


def _stop(process: subprocess.Popen, grace: float = STOP_GRACE, *, terminated: bool = False) -> None:
    """SIGTERM the command's process group (unless ``terminated``: it was sent already), then
    SIGKILL what is left after ``grace`` seconds.

    A Ctrl-C (or a SIGTERM raised as one) during the grace period kills the group at once and
    is raised afterwards: an impatient user never leaves the command running behind evotune.
    """
    interrupt: KeyboardInterrupt | None = None
    try:
        if process.poll() is None:
            if not terminated:  # a second SIGTERM could cut short the command's own clean-up
                _signal_group(process, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
    except KeyboardInterrupt as error:
        interrupt = error
    while True:  # SIGKILL cannot be ignored: this ends at once, whatever more Ctrl-Cs arrive
        try:
            if os.name == "posix":
                _signal_group(process, signal.SIGKILL)  # children that outlived their parent
            elif process.poll() is None:  # pragma: no cover - Windows
                process.kill()
            process.wait()
            break
        except KeyboardInterrupt as error:
            interrupt = error
    if interrupt is not None:
        raise interrupt


def _scan(path: Path, parse: bool = True) -> tuple[str, dict[str, float]]:
    """The tail of an output file and, when ``parse``, the metrics it reports."""
    tail: collections.deque[str] = collections.deque()
    size = 0
    metrics: dict[str, float] = {}
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if parse:
                metrics.update(parse_metric_line(line))
            tail.append(line)
            size += len(line)
            while size > TAIL_CHARS and len(tail) > 1:
                size -= len(tail.popleft())
    text = "".join(tail)
    return text[-TAIL_CHARS:], metrics


def _program_hint(program: str, cwd: str | None) -> str:
    """Why a program name may not be found: names without a folder are looked up on PATH."""
    if os.sep not in program and Path(cwd or ".", program).exists():
        return (f" (a program name without a folder is looked up on PATH; for the one in the working "
                f"folder write ./{program})")
    return ""


def program_problem(program: str, cwd: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """Why ``program`` cannot be started from ``cwd`` with the extra environment ``env`` (its
    ``PATH`` is the one searched, as when the command runs): not found, not executable; or None."""
    if os.sep in program or (os.altsep and os.altsep in program):
        path = Path(cwd or ".", program)
        if not path.is_file():
            return f"the program {program!r} does not exist (looked for {path})"
        if not os.access(path, os.X_OK):
            return f"the program {program!r} is not executable (chmod +x {path}, or run it with an interpreter)"
        return None
    if shutil.which(program, path=(env or {}).get("PATH", os.environ.get("PATH"))) is None:
        return f"the program {program!r} is not found on PATH{_program_hint(program, cwd)}"
    return None


def _read_metrics_file(path: Path) -> dict[str, float]:
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        return parse_metrics(text.splitlines())
    return _numbers(data) if isinstance(data, dict) else {}


def _numbers(data: Mapping[str, Any]) -> dict[str, float]:
    """The numeric entries of a JSON object (text, lists and booleans are not metrics).

    An integer too large for a float becomes an infinity, so the trial fails as non-finite.
    """
    return {str(k): _float(v) for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # a JSON integer beyond any float, e.g. a diverged counter
        return math.inf if value > 0 else -math.inf


def _exit_reason(code: int) -> str:
    if code < 0:  # killed by a signal: SIGKILL is often the out-of-memory killer
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the command was killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
    return f"the command exited with code {code}"


def _with_tail(reason: str, stderr_tail: str) -> str:
    tail = stderr_tail.strip()
    if not tail:
        return reason
    if len(tail) > ERROR_TAIL_CHARS:
        tail = "..." + tail[-ERROR_TAIL_CHARS:]
    return f"{reason}; end of stderr:\n{tail}"


__all__ = ["CommandObjective", "parse_metric_line", "parse_metrics", "placeholder_problem", "render",
           "stop_running_commands"]

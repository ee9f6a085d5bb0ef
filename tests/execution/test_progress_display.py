"""The progress bar: its length follows the budget (retries extend it), and evotune's log lines
are printed above it, through rich's console, rather than onto it."""

from __future__ import annotations

import io
import logging
import re
import sys
import time

from rich.console import Console

import evotune as et
from evotune.execution.progress import ProgressDisplay
from tests.execution.objectives import die_once, quadratic, space


def _bar_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "trials" in line and not line.startswith("[evotune]")]


def test_the_bar_counts_the_retry_of_a_trial_lost_before_the_run(capsys):
    study = et.Study(space(), strategy=et.RandomSearch(seed=1))
    gone = study._start_trial(None, worker="gone-host:1", watched=True)  # another worker's, never stamped
    time.sleep(0.3)
    study.optimize(quadratic, max_trials=3, retries=1, heartbeat_interval=0.05, grace_period=0.1,
                   show_progress=True)
    trials = study.trials
    assert trials[gone.number].error == "worker lost" and trials[1].attrs["retry_of"] == gone.number
    assert len(trials) == 4  # the retry stands in for the lost trial: the budget is 3 + 1
    assert "4/4" in _bar_lines(capsys.readouterr().err)[-1]


def test_the_bar_grows_with_retries_during_the_run(tmp_path, capsys):
    study = et.Study(space(), strategy=et.RandomSearch(seed=2))
    study.optimize(die_once(str(tmp_path / "died")), max_trials=4, n_jobs=2, retries=1, show_progress=True)
    trials = study.trials
    assert any(t.error == "worker lost" for t in trials) and len(trials) > 4
    assert f"{len(trials)}/{len(trials)}" in _bar_lines(capsys.readouterr().err)[-1]  # never 5/4


def test_log_lines_go_through_the_console_above_the_bar():
    screen = io.StringIO()
    display = ProgressDisplay(True, 10, 3, None, console=Console(file=screen, force_terminal=True, width=100))
    try:
        logging.getLogger("evotune").warning("trial 5 lost its worker process (BrokenProcessPool)")
    finally:
        display.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())  # cursor moves and colours
    lines = [line for line in re.split(r"[\r\n]", text) if "trial 5 lost" in line]
    assert lines == ["[evotune] trial 5 lost its worker process (BrokenProcessPool)"], text


def test_the_evotune_handler_takes_a_stream_given_with_set_stream():
    handler = logging.getLogger("evotune").handlers[0]
    chosen = io.StringIO()
    previous = handler.setStream(chosen)
    try:
        et.Study({"x": et.Float(0, 1)}, name="streamed").optimize(lambda p: p["x"], max_trials=2, show_progress=False)
    finally:
        handler.setStream(previous)
    assert "study 'streamed' stopped: max_trials reached" in chosen.getvalue()
    assert handler.stream is sys.stderr  # given back: it follows sys.stderr again

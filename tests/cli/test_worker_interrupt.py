"""``evotune worker --config``: Ctrl-C or SIGTERM stops the running training commands at once, as ``evotune run``."""

from __future__ import annotations

import signal
import sys

import pytest

import evotune as et
from tests.cli.conftest import interrupt, sqlite_url, start_until_running

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sends POSIX signals")

#: A training command that takes "hours": it and a child of its own sleep for a minute.
SLEEPS = """
    import json, os, subprocess, sys, time
    x = json.loads(os.environ["EVOTUNE_PARAMS"])["x"]
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    open(f"running-{x}", "w").write(f"{os.getpid()} {child.pid}")
    time.sleep(60)
    print(json.dumps({"score": float(x)}))
"""

#: The worker as a shell starts it: SIGINT raises KeyboardInterrupt even when the test runner
#: itself was started with SIGINT ignored (a background job of a non-interactive shell).
WORKER = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); from evotune.cli import main; main()"


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_worker_stops_its_commands_and_exits_at_once(script, config, tmp_path, signum, n_jobs):
    script("train.py", SLEEPS)
    path = config(command=["train.py"], space='x = { type = "int", low = 0, high = 3 }', strategy='type = "grid"',
                  run=f"max_trials = 4\nn_jobs = {n_jobs}")
    process, markers = start_until_running(
        [sys.executable, "-c", WORKER, "worker", "--config", str(path), "--no-progress"], tmp_path, n_jobs)
    out, err, took, survivors = interrupt(process, markers, [signum])
    assert process.returncode == 130, (out, err)
    assert took < 8, f"the worker took {took:.1f} s to exit"  # not the minute its commands sleep
    assert "interrupted" in err and "Traceback" not in err
    assert not survivors
    trials = et.Study.load("demo", sqlite_url(tmp_path)).trials
    assert sorted((t.params["x"], t.state.value, t.error) for t in trials) == [
        (x, "FAILED", "interrupted") for x in range(n_jobs)]

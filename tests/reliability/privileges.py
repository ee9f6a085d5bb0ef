"""Running a check as a process that file permissions apply to.

The suite often runs as root, whom ``chmod`` does not stop. A child started through
``setpriv`` without the capabilities that bypass file permissions (DAC override and DAC read
search) is refused like any other user, while keeping root's uid and access to the Python
installation. As another user, the child simply runs as is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

_DROP = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps", "-all"]


def permissions_apply() -> bool:
    """True when a child can be made to obey file permissions."""
    return os.geteuid() != 0 or shutil.which("setpriv") is not None


def run_unprivileged(body: str, *args: str, timeout: float = 120) -> Any:
    """Run ``body`` (Python; it prints one JSON document last) as a process that file modes bind.

    Skips the test when that is impossible (root without ``setpriv``).
    """
    if not permissions_apply():
        pytest.skip("running as root without setpriv: file permissions cannot be enforced")
    prefix = _DROP if os.geteuid() == 0 else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([*prefix, sys.executable, "-c", textwrap.dedent(body), *args], capture_output=True,
                          text=True, timeout=timeout, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])

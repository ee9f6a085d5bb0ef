"""Running objectives: in-process, local worker processes, any concurrent.futures Executor (Dask).

Modules: :mod:`~evotune.execution.objective` (calling the objective, shipping it to workers),
:mod:`~evotune.execution.pool` (the reusable local process pool),
:mod:`~evotune.execution.runners` (one runner per kind of executor),
:mod:`~evotune.execution.gate` (on Dask, no trial starts once the run stops),
:mod:`~evotune.execution.heartbeat` (lost-worker detection), :mod:`~evotune.execution.loop`
(the optimize loop), :mod:`~evotune.execution.options` (checks of its options),
:mod:`~evotune.execution.unfinished` (what the unfinished trials of a history are waiting for) and
:mod:`~evotune.execution.progress` (the progress bar).
"""

from evotune.execution.objective import (
    Outcome,
    Payload,
    evaluate,
    evaluate_payload,
    make_payload,
    pickle_objective,
)
from evotune.execution.pool import resolve_n_jobs, shutdown_pool

__all__ = [
    "Outcome", "Payload", "evaluate", "evaluate_payload", "make_payload", "pickle_objective",
    "resolve_n_jobs", "shutdown_pool",
]

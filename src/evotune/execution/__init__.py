"""Running objectives: in this process, in local worker processes, or on any Executor."""

from evotune.execution.objective import Outcome, evaluate, evaluate_payload, pickle_objective

__all__ = ["Outcome", "evaluate", "evaluate_payload", "pickle_objective"]

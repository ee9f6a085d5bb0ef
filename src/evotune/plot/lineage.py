"""The family tree of an evolutionary study, from each trial's generation and parents alone.

Generations are columns; inside a column trials are ranked, best first; an edge joins each
parent to each child; the best path follows the best trial back to its first ancestor,
taking the better parent at every step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from evotune.exceptions import ConfigError
from evotune.plot.source import check_direction
from evotune.trial import Trial, TrialState


def has_lineage(trials: Sequence[Trial]) -> bool:
    """True when at least one trial records a generation or parents."""
    return any(t.generation is not None or t.parents for t in trials)


def lineage_data(trials: Sequence[Trial], direction: str, metric: str | None = None) -> dict[str, Any]:
    """Nodes, edges and the best path of the study's family tree.

    A trial without a recorded generation is placed one column after its latest parent
    (column 0 when it has none), so trials added by hand still find their place.

    Returns:
        ``nodes``: one ``{number, generation, rank, value, state, origin, parents}`` per trial
        (``rank`` 0 is the best of its generation; ``value`` is None unless complete);
        ``edges``: ``[parent, child]`` pairs whose both ends are in the study;
        ``best_path``: trial numbers from the first ancestor to the best trial;
        ``generations``: the column numbers in use.

    Raises:
        ConfigError: When no trial has a generation or parents (not an evolutionary study).

    Example:
        >>> from evotune.trial import Trial, TrialState
        >>> a = Trial(0, {}, TrialState.COMPLETE, value=2.0, generation=0)
        >>> b = Trial(1, {}, TrialState.COMPLETE, value=1.0, generation=1, parents=(0,))
        >>> lineage_data([a, b], "minimize")["best_path"]
        [0, 1]
    """
    check_direction(direction)
    if not has_lineage(trials):
        raise ConfigError(
            "lineage needs trials with a generation or parents (an evolutionary study); "
            "none of the trials has either"
        )
    by_number = {t.number: t for t in trials}
    sign = 1.0 if direction == "minimize" else -1.0

    def score(trial: Trial) -> float | None:
        raw = trial.value if metric is None else trial.metrics.get(metric)
        if trial.state is not TrialState.COMPLETE or raw is None or not math.isfinite(raw):
            return None
        return float(raw)

    def loss(trial: Trial) -> float:
        value = score(trial)
        return math.inf if value is None else sign * value

    generation: dict[int, int] = {}
    for trial in sorted(trials, key=lambda t: t.number):  # parents always have lower numbers
        if trial.generation is not None:
            generation[trial.number] = int(trial.generation)
        else:
            known = [generation[p] for p in trial.parents if p in generation]
            generation[trial.number] = max(known) + 1 if known else 0

    columns: dict[int, list[Trial]] = {}
    for trial in trials:
        columns.setdefault(generation[trial.number], []).append(trial)
    rank: dict[int, int] = {}
    for members in columns.values():
        for position, trial in enumerate(sorted(members, key=lambda t: (loss(t), t.number))):
            rank[trial.number] = position

    nodes = [
        {"number": t.number, "generation": generation[t.number], "rank": rank[t.number], "value": score(t),
         "state": t.state.value, "origin": t.origin, "parents": [p for p in t.parents if p in by_number]}
        for t in sorted(trials, key=lambda t: t.number)
    ]
    edges = [[parent, node["number"]] for node in nodes for parent in node["parents"]]
    return {"nodes": nodes, "edges": edges, "best_path": _best_path(by_number, loss),
            "generations": sorted(columns)}


def _best_path(by_number: dict[int, Trial], loss: Any) -> list[int]:
    ranked = [t for t in by_number.values() if math.isfinite(loss(t))]
    if not ranked:
        return []
    current: Trial | None = min(ranked, key=lambda t: (loss(t), t.number))
    path: list[int] = []
    seen: set[int] = set()
    while current is not None and current.number not in seen:
        path.append(current.number)
        seen.add(current.number)
        parents = [by_number[p] for p in current.parents if p in by_number]
        current = min(parents, key=lambda t: (loss(t), t.number)) if parents else None
    return path[::-1]

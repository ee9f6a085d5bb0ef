"""Parameter importance by PED-ANOVA (Watanabe, Bansal and Hutter, IJCAI 2023).

The idea: a parameter matters when the best trials use a different part of its range than
the trials as a whole. For each parameter we estimate two one-dimensional distributions, in
the parameter's unit coordinate,

- ``p``: the values of the top ``top_fraction`` of the complete trials (the best ones), and
- ``q``: the values of all complete trials,

and measure how far ``p`` is from ``q`` with the Pearson divergence
``D(p || q) = sum over cells of q * (p / q - 1) ** 2``. PED-ANOVA shows this divergence is the
local variance contribution of the parameter (an f-ANOVA term) to the indicator "the trial is
among the best", in closed form, with no surrogate model: it needs numpy only and takes a few
milliseconds on 10,000 trials. Importances are the divergences scaled to sum to 1.

Continuous parameters use a Gaussian kernel density (Scott's bandwidth) on a grid of cells;
categorical and small discrete ones (up to ``MAX_DISCRETE`` values) count their values.
Both estimates mix in one pseudo-trial spread uniformly, so the ratio ``p / q`` stays bounded.
Unlike a random-forest f-ANOVA, it does not model interactions between parameters.

Ties never decide: trials whose value equals the cut-off value of the top set share the top
set's remaining places equally (each counts in ``p`` with the same fractional weight), so the
result does not depend on the order of the trials. When every trial has the same value no
trial is better than another, and the importance is refused rather than invented.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from evotune.exceptions import ConfigError
from evotune.plot.source import ParamAxis, losses, pick_params, scored_trials
from evotune.space import Categorical, Distribution, Space
from evotune.trial import Trial

#: Fewest complete trials for which an importance is computed.
MIN_TRIALS = 5
#: Discrete parameters with at most this many values are counted rather than smoothed.
MAX_DISCRETE = 32
#: Cells of the grid on which continuous densities are compared.
GRID_CELLS = 64
#: Weight of the uniform pseudo-trial mixed into each density estimate.
PRIOR_WEIGHT = 1.0

METHOD = "PED-ANOVA"


def importance_data(
    trials: Sequence[Trial], space: Space, direction: str, params: Sequence[str] | None = None,
    metric: str | None = None, top_fraction: float = 0.1,
) -> dict[str, Any]:
    """Importance of each parameter for reaching the best values, by PED-ANOVA.

    Args:
        trials: The study's trials (only complete ones count).
        space: The search space.
        direction: "minimize" or "maximize".
        params: The parameters to rate (default: all).
        metric: Rate against this metric instead of the optimized value.
        top_fraction: Share of the complete trials counted as "the best" (at least 2 trials).

    Returns:
        ``importances``: name -> share in [0, 1] summing to 1 (largest first);
        ``divergences``: name -> raw Pearson divergence; ``method``, ``top_fraction``,
        ``n_trials`` and ``n_top``.

    Raises:
        ConfigError: For a ``top_fraction`` outside (0, 1), fewer than ``MIN_TRIALS``
            complete trials, or values that do not vary (every complete trial has the same).
    """
    if isinstance(top_fraction, bool) or not isinstance(top_fraction, (int, float)) or not 0 < top_fraction < 1:
        raise ConfigError(f"top_fraction must be a number in (0, 1), got {top_fraction!r}")
    names = pick_params(space, params)
    chosen, values = scored_trials(trials, metric)
    n = len(chosen)
    if n < MIN_TRIALS:
        raise ConfigError(
            f"parameter importance needs at least {MIN_TRIALS} complete trials, the study has {n}"
        )
    if not values_vary(values):
        measured = "value" if metric is None else f"metric {metric!r}"
        raise ConfigError(
            f"parameter importance cannot rate the parameters: the {measured} does not vary "
            f"(all {n} complete trials have {measured} = {float(values[0])!r})"
        )
    n_top = min(n, max(2, math.ceil(top_fraction * n)))
    weights = top_weights(losses(values, direction), n_top)
    divergences = {}
    for name in names:
        coords = _coordinates(name, space[name], [t.params.get(name) for t in chosen])
        known = np.isfinite(coords)
        top = known & (weights > 0)
        divergences[name] = pearson_divergence(space[name], coords[top], coords[known], weights[top])
    total = sum(divergences.values())
    shares = {name: (d / total if total > 0 else 0.0) for name, d in divergences.items()}
    ranked = dict(sorted(shares.items(), key=lambda item: -item[1]))
    return {"method": METHOD, "top_fraction": float(top_fraction), "n_trials": n, "n_top": n_top,
            "importances": ranked, "divergences": divergences}


def values_vary(values: np.ndarray) -> bool:
    """Whether the values differ at all: when they do not, no trial is better than another."""
    return len(values) > 0 and bool(np.any(values != values[0]))


def top_weights(loss: np.ndarray, n_top: int) -> np.ndarray:
    """Each trial's share of membership in the ``n_top`` best (lowest) losses.

    Trials strictly better than the ``n_top``-th loss count 1, worse ones 0, and the trials
    tied with it share the places left equally, so the weights sum to ``n_top`` and do not
    depend on the order of the trials.

    Example:
        >>> top_weights(np.array([3.0, 1.0, 2.0, 2.0, 2.0]), 2).tolist()
        [0.0, 1.0, 0.3333333333333333, 0.3333333333333333, 0.3333333333333333]
    """
    cutoff = np.sort(loss)[n_top - 1]
    better = loss < cutoff
    tied = loss == cutoff
    weights = better.astype(float)
    weights[tied] = (n_top - int(better.sum())) / int(tied.sum())
    return weights


def _coordinates(name: str, distribution: Distribution, values: list[Any]) -> np.ndarray:
    """The index of each value among a discrete parameter's values, else its unit coordinate.

    A value outside the space (an old trial) becomes NaN and is left out.
    """
    if not _is_discrete(distribution):
        coords = ParamAxis(name, distribution).unit(values)
        coords[(coords < 0) | (coords > 1)] = np.nan
        return coords
    index = {distribution.key(v): i for i, v in enumerate(distribution.grid())}
    out = np.full(len(values), np.nan)
    for i, value in enumerate(values):
        try:
            out[i] = index.get(distribution.key(value), np.nan)
        except (TypeError, ValueError):
            continue
    return out


def _is_discrete(distribution: Distribution) -> bool:
    return isinstance(distribution, Categorical) or distribution.cardinality <= MAX_DISCRETE


def pearson_divergence(
    distribution: Distribution, top: np.ndarray, everything: np.ndarray, weights: np.ndarray | None = None,
) -> float:
    """Pearson divergence of the top trials' distribution from all trials'.

    Args:
        distribution: The parameter.
        top, everything: Coordinates from :func:`_coordinates` (indices for a discrete
            parameter, unit coordinates otherwise) of the top trials and of all trials.
        weights: Weight of each top trial (default 1 each); see :func:`top_weights`.
    """
    if len(top) == 0 or len(everything) == 0:
        return 0.0
    if _is_discrete(distribution):
        cells = int(distribution.cardinality)
        p, q = _counted(top, cells, weights), _counted(everything, cells)
    else:
        p, q = _smoothed(top, weights), _smoothed(everything)
    return float(np.sum(q * (p / q - 1.0) ** 2))


def _counted(indices: np.ndarray, cells: int, weights: np.ndarray | None = None) -> np.ndarray:
    counts = np.bincount(indices.astype(int), weights=weights, minlength=cells).astype(float)
    total = len(indices) if weights is None else float(weights.sum())
    return (counts + PRIOR_WEIGHT / cells) / (total + PRIOR_WEIGHT)


def _smoothed(coords: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    centers = (np.arange(GRID_CELLS) + 0.5) / GRID_CELLS
    if weights is None:
        weights = np.ones(len(coords))
    n = float(weights.sum())
    if n > 1:
        mean = float(np.average(coords, weights=weights))
        spread = math.sqrt(float(np.average((coords - mean) ** 2, weights=weights)))
    else:
        spread = 0.0
    bandwidth = max(1.06 * spread * n ** (-0.2), 1.0 / GRID_CELLS)
    kernel = np.exp(-0.5 * ((centers[:, None] - coords[None, :]) / bandwidth) ** 2)
    kernel /= kernel.sum(axis=0, keepdims=True)  # each trial spreads a mass of 1 over the cells
    mass = kernel @ weights  # ... times its weight
    return (mass + PRIOR_WEIGHT / GRID_CELLS) / (n + PRIOR_WEIGHT)

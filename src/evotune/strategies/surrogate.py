"""A small radial-basis-function model that screens candidate children before they are trained.

Training a model is the expensive step of a search; predicting its loss from the trials already
finished is nearly free. :class:`RadialBasisModel` interpolates the finished trials in unit
coordinates with a cubic kernel and a linear tail (a classic choice for expensive black-box
functions: no length scale to tune, and a unique solution once the points span the space), so a
strategy can breed several candidates and keep the one predicted best.

Losses are replaced by their ranks before fitting: the model only has to say which candidate is
likely better, and ranks keep one huge loss (a diverged run) from flattening everything else.

:func:`quadratic_minimum` is the other half: the interpolant follows every ripple of the trials,
while a quadratic fitted by least squares to the best of them only keeps their overall trend,
whose lowest point is where a rippled bowl (Ackley, Rastrigin, and many validation curves) most
likely has its floor.
"""

from __future__ import annotations

import numpy as np

#: Ridge added to the kernel diagonal so nearly coincident points never make the system singular.
RIDGE = 1e-8


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``a`` and the rows of ``b``."""
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.maximum(squared, 0.0))


def rank_scores(losses: np.ndarray) -> np.ndarray:
    """Ranks of the distinct ``losses`` scaled to [0, 1]; equal losses share their rank."""
    distinct, ranks = np.unique(losses, return_inverse=True)
    return ranks.reshape(-1) / max(len(distinct) - 1, 1)


def quadratic_minimum(points: np.ndarray, losses: np.ndarray, fixed: np.ndarray | None = None) -> np.ndarray | None:
    """Lowest point in the unit box of a separable quadratic fitted to ``points`` and ``losses``.

    The fit is ``a + sum_i (b_i x_i + c_i x_i^2)`` by least squares, one curvature per coordinate
    and no cross terms, so ``2 * d + 1`` points already determine it. Its minimum along coordinate
    ``i`` is ``-b_i / (2 c_i)``, clipped to [0, 1]. A coordinate the points cannot fit keeps the
    value of the first point: one in ``fixed``, one with fewer than three distinct values (no
    curvature can be told from them; with two, it keeps a slope in the fit of the others).

    Args:
        points: ``(n, d)`` unit coordinates, the best point first.
        losses: ``(n,)`` their losses.
        fixed: ``(d,)`` booleans, True for the coordinates not to fit (say, unordered choices,
            whose unit coordinate has no order). None fits every coordinate.

    Returns:
        The ``(d,)`` unit coordinates, or None when the fit is not a bowl: no coordinate to fit,
        fewer points than terms, terms the points do not determine, or a curvature that is not
        positive (a ridge or a slope along that coordinate). Sending such a coordinate to an end
        of its range, or leaving it where the best point has it, both did worse on the quality
        benchmark than breeding a child as usual.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).random((12, 2))
        >>> quadratic_minimum(x, ((x - [0.3, 0.8]) ** 2).sum(1)).round(6).tolist()
        [0.3, 0.8]
    """
    points = np.atleast_2d(np.asarray(points, dtype=float))
    losses = np.asarray(losses, dtype=float)
    n, d = points.shape
    distinct = np.array([len(np.unique(points[:, i])) for i in range(d)])
    free = distinct >= 2
    if fixed is not None:
        free &= ~np.asarray(fixed, dtype=bool)
    curved = free & (distinct >= 3)
    width = int(free.sum())
    terms = 1 + width + int(curved.sum())
    if not curved.any() or n < terms:
        return None
    design = np.hstack([np.ones((n, 1)), points[:, free], points[:, curved] ** 2])
    coefficients, _, rank, _ = np.linalg.lstsq(design, losses, rcond=None)
    if rank < terms:
        return None
    slopes = coefficients[1 : 1 + width][curved[free]]
    curvatures = coefficients[1 + width :]
    if not np.all(curvatures > 1e-12 * max(1.0, float(np.abs(coefficients).max()))):
        return None
    minimum = points[0].copy()
    minimum[curved] = np.clip(-slopes / (2 * curvatures), 0.0, 1.0)
    return minimum


class RadialBasisModel:
    """Cubic radial-basis interpolant with a linear tail, fitted on unit coordinates.

    Args:
        points: ``(n, d)`` unit coordinates of finished trials.
        losses: ``(n,)`` their losses (lower is better).

    Example:
        >>> import numpy as np
        >>> x = np.linspace(0, 1, 9)[:, None]
        >>> model = RadialBasisModel(x, (x[:, 0] - 0.3) ** 2)
        >>> int(np.argmin(model.predict(np.array([[0.0], [0.31], [0.9]]))))
        1
    """

    def __init__(self, points: np.ndarray, losses: np.ndarray):
        self.points = np.asarray(points, dtype=float)
        targets = rank_scores(np.asarray(losses, dtype=float))
        n = len(self.points)
        # A coordinate that does not vary (say, every point has the same choice) would make the
        # linear tail singular: the tail only uses the coordinates that vary.
        self._varying = np.flatnonzero(np.ptp(self.points, axis=0) > 1e-9)
        tail = np.hstack([np.ones((n, 1)), self.points[:, self._varying]])
        size = n + tail.shape[1]
        system = np.zeros((size, size))
        system[:n, :n] = _distances(self.points, self.points) ** 3 + RIDGE * np.eye(n)
        system[:n, n:] = tail
        system[n:, :n] = tail.T
        rhs = np.concatenate([targets, np.zeros(tail.shape[1])])
        try:
            solution = np.linalg.solve(system, rhs)
        except np.linalg.LinAlgError:  # points too few or too aligned for the tail
            solution = np.linalg.lstsq(system, rhs, rcond=None)[0]
        self._weights, self._tail = solution[:n], solution[n:]

    def predict(self, candidates: np.ndarray) -> np.ndarray:
        """Predicted rank score of each row of ``candidates`` (lower is more promising)."""
        candidates = np.atleast_2d(np.asarray(candidates, dtype=float))
        return self._predict(candidates, _distances(candidates, self.points))

    def merit(self, candidates: np.ndarray, weight: float) -> np.ndarray:
        """Merit of each row of ``candidates`` (lower is better): predicted loss against novelty.

        Both terms are scaled to [0, 1] over the candidates: ``weight`` times the predicted loss
        plus ``1 - weight`` times the closeness to the nearest fitted point.
        """

        def scaled(values: np.ndarray) -> np.ndarray:
            span = values.max() - values.min()
            return (values - values.min()) / span if span > 0 else np.zeros_like(values)

        candidates = np.atleast_2d(np.asarray(candidates, dtype=float))
        distances = _distances(candidates, self.points)  # serve both terms
        return weight * scaled(self._predict(candidates, distances)) + (1 - weight) * (1 - scaled(distances.min(1)))

    def _predict(self, candidates: np.ndarray, distances: np.ndarray) -> np.ndarray:
        return distances**3 @ self._weights + self._tail[0] + candidates[:, self._varying] @ self._tail[1:]

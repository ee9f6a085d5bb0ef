"""A small radial-basis-function model that screens candidate children before they are trained.

Training a model is the expensive step of a search; predicting its loss from the trials already
finished is nearly free. :class:`RadialBasisModel` interpolates the finished trials in unit
coordinates with a cubic kernel and a linear tail (a classic choice for expensive black-box
functions: no length scale to tune, and a unique solution once the points span the space), so a
strategy can breed several candidates and keep the one predicted best.

Losses are replaced by their ranks before fitting: the model only has to say which candidate is
likely better, and ranks keep one huge loss (a diverged run) from flattening everything else.
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

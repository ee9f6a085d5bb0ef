"""Small estimators whose score and failures the tests control."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

#: Every fit of a Quadratic in this process, as (alpha, n_samples): lets tests count refits.
FITS: list[tuple[float, int]] = []


class Quadratic(RegressorMixin, BaseEstimator):
    """Scores ``-(alpha - best) ** 2`` whatever the data; fails or interrupts on demand.

    Args:
        alpha: The searched parameter.
        best: Where the score peaks (at 0).
        fail_above: Fitting raises ValueError when alpha exceeds it.
        interrupt_at: Fitting raises KeyboardInterrupt when ``len(FITS)`` reaches it.
    """

    def __init__(self, alpha=1.0, best=0.3, fail_above=None, interrupt_at=None):
        self.alpha = alpha
        self.best = best
        self.fail_above = fail_above
        self.interrupt_at = interrupt_at

    def fit(self, X, y):
        if self.interrupt_at is not None and len(FITS) >= self.interrupt_at:
            raise KeyboardInterrupt
        if self.fail_above is not None and self.alpha > self.fail_above:
            raise ValueError(f"alpha={self.alpha} is too large")
        FITS.append((self.alpha, len(X)))
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict(self, X):
        return np.zeros(len(X))

    def score(self, X, y, sample_weight=None):
        return -((self.alpha - self.best) ** 2)

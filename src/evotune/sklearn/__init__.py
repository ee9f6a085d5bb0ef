"""scikit-learn integration: ``TuneSearchCV`` and ``EvolutionarySearchCV``.

Drop-in replacements for ``GridSearchCV`` / ``RandomizedSearchCV`` that search with any evotune
strategy and record every candidate in an evotune study::

    import evotune as et
    from evotune.sklearn import TuneSearchCV

    search = TuneSearchCV(make_pipeline(StandardScaler(), SVC()),
                          {"svc__C": et.Float(1e-3, 1e3, log=True), "svc__gamma": loguniform(1e-5, 1)},
                          n_trials=60, scoring="roc_auc", cv=5, n_jobs=-1, random_state=0)
    search.fit(X, y)
    search.best_params_, search.best_score_, search.study_.to_dataframe()

Needs scikit-learn: ``pip install 'evotune[sklearn]'``.
"""

from __future__ import annotations

try:
    import sklearn  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError(
        "evotune.sklearn needs scikit-learn; install it with: pip install 'evotune[sklearn]'"
    ) from None

from evotune.sklearn.search import EvolutionarySearchCV, TuneSearchCV
from evotune.sklearn.spaces import SUBSPACE, SearchSpace, to_distribution

__all__ = ["SUBSPACE", "EvolutionarySearchCV", "SearchSpace", "TuneSearchCV", "to_distribution"]

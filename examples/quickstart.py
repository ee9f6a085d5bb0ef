"""Tune a gradient-boosting classifier on scikit-learn's bundled breast-cancer data.

Writes every trial to ``evotune.db`` (SQLite) as it finishes; run it again and the study
resumes where it stopped. Needs scikit-learn: ``pip install -e ".[sklearn]"``.

    python examples/quickstart.py [--trials 40] [--storage sqlite:///evotune.db]
"""

from __future__ import annotations

import argparse
import warnings

from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import cross_val_score

import evotune as et

SPACE = {
    "learning_rate": et.Float(1e-3, 0.5, log=True),
    "max_leaf_nodes": et.Int(4, 64, log=True),
    "min_samples_leaf": et.Int(2, 60),
    "l2_regularization": et.Float(1e-6, 10.0, log=True),
    "max_features": et.Float(0.2, 1.0, step=0.1),
}


def objective(params: dict) -> dict[str, float]:
    """Five-fold cross-validated ROC AUC and accuracy of one configuration."""
    X, y = load_breast_cancer(return_X_y=True)
    model = HistGradientBoostingClassifier(max_iter=60, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auc = cross_val_score(model, X, y, cv=5, scoring="roc_auc").mean()
        accuracy = cross_val_score(model, X, y, cv=5, scoring="accuracy").mean()
    return {"roc_auc": float(auc), "accuracy": float(accuracy)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=40, help="total trials of the study")
    parser.add_argument("--storage", default="sqlite:///evotune.db")
    args = parser.parse_args()

    study = et.Study(SPACE, direction="maximize", metric="roc_auc", storage=args.storage,
                     name="quickstart", seed=0)
    study.optimize(objective, max_trials=args.trials, patience=25, show_progress=True)
    best = study.best
    print(f"stopped: {study.stop_reason}; {len(study.trials)} trials in {args.storage}")
    print(f"best trial #{best.number}: roc_auc={best.metrics['roc_auc']:.4f} "
          f"accuracy={best.metrics['accuracy']:.4f}")
    for name, value in best.params.items():
        print(f"  {name} = {value:.6g}" if isinstance(value, float) else f"  {name} = {value}")


if __name__ == "__main__":
    main()

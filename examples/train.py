"""Train a small neural network on scikit-learn's bundled digits and print its scores.

A stand-in for any training script: it takes hyperparameters as command-line options and
prints its metrics as one JSON line at the end, which is all ``evotune run`` needs
(see ``tune.toml`` next to it). Needs scikit-learn.

    python train.py --lr 0.003 --layers 2 --units 64 --act relu --alpha 1e-4
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, required=True, help="initial learning rate of Adam")
    parser.add_argument("--layers", type=int, required=True, help="number of hidden layers")
    parser.add_argument("--units", type=int, required=True, help="units per hidden layer")
    parser.add_argument("--act", choices=["relu", "tanh", "logistic"], required=True, help="activation")
    parser.add_argument("--alpha", type=float, default=1e-4, help="L2 penalty")
    parser.add_argument("--epochs", type=int, default=60, help="maximum training epochs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    model = make_pipeline(StandardScaler(), MLPClassifier(
        hidden_layer_sizes=(args.units,) * args.layers, activation=args.act, alpha=args.alpha,
        learning_rate_init=args.lr, max_iter=args.epochs, random_state=args.seed,
    ))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a short budget is part of the search
        model.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    network = model[-1]
    print(f"trained {args.layers}x{args.units} {args.act} for {network.n_iter_} epochs in {seconds:.2f} s")
    print(json.dumps({
        "val_accuracy": round(float(model.score(X_val, y_val)), 5),
        "train_accuracy": round(float(model.score(X_train, y_train)), 5),
        "loss": round(float(network.loss_), 5),
        "epochs": network.n_iter_,
        "fit_seconds": round(seconds, 3),
    }))


if __name__ == "__main__":
    main()

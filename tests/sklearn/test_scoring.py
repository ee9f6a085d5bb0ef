"""Descriptions of scorers, kept with each candidate so a resumed search can tell its scorers apart."""

from __future__ import annotations

import functools

from sklearn.metrics import f1_score, get_scorer, make_scorer

from evotune.sklearn.scoring import describe_scorer, describe_scoring


def _weighted_score(estimator, X, y, weight=1.0):
    return weight * estimator.score(X, y)


class _Scorer:
    def __call__(self, estimator, X, y):
        return estimator.score(X, y)


def test_named_scorers_are_described_by_their_name():
    assert describe_scoring("accuracy") == {"score": "accuracy"}
    assert describe_scoring(None) == {"score": "the estimator's score method"}
    assert describe_scoring(["accuracy", "f1_macro"]) == {"accuracy": "accuracy", "f1_macro": "f1_macro"}
    assert describe_scoring({"acc": "accuracy", "own": _weighted_score}) == {
        "acc": "accuracy", "own": "_weighted_score"}


def test_callables_are_described_without_memory_addresses():
    macro = describe_scorer(make_scorer(f1_score, average="macro"))
    assert macro == describe_scorer(make_scorer(f1_score, average="macro"))
    assert "average=macro" in macro and macro != describe_scorer(make_scorer(f1_score, average="micro"))
    assert describe_scorer(get_scorer("accuracy")) != describe_scorer(get_scorer("balanced_accuracy"))
    partial = describe_scorer(functools.partial(_weighted_score, weight=2.0))
    assert "0x" not in partial and "weight=2.0" in partial
    assert partial != describe_scorer(functools.partial(_weighted_score, weight=3.0))
    instance = describe_scorer(_Scorer())
    assert "0x" not in instance and instance == describe_scorer(_Scorer())
    assert "_Scorer" in instance


def test_lambdas_are_told_apart_by_what_their_code_uses():
    def make(average):
        return lambda estimator, X, y: f1_score(y, estimator.predict(X), average=average)

    macro = describe_scorer(lambda estimator, X, y: f1_score(y, estimator.predict(X), average="macro"))
    micro = describe_scorer(lambda estimator, X, y: f1_score(y, estimator.predict(X), average="micro"))
    assert macro != micro and "'macro'" in macro and "f1_score" in macro
    assert describe_scorer(lambda e, X, y: -100.0) != describe_scorer(lambda e, X, y: e.score(X, y))
    assert describe_scorer(lambda e, X, y: 1.0) == describe_scorer(lambda e, X, y: 1.0)
    # Plain values a lambda closes over count too.
    assert describe_scorer(make("macro")) != describe_scorer(make("micro"))
    assert describe_scorer(make("macro")) == describe_scorer(make("macro"))

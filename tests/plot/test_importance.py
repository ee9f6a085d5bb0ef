"""Parameter importance by PED-ANOVA."""

from __future__ import annotations

import numpy as np
import pytest

import evotune as et
from evotune.exceptions import ConfigError
from evotune.plot import importance_data, param_importances
from evotune.plot.importance import MIN_TRIALS, pearson_divergence, top_weights
from evotune.trial import Trial, TrialState

from .studies import mixed_objective, mixed_space, random_study


def test_the_parameter_that_drives_the_value_ranks_first_and_noise_last():
    study = random_study(400)
    data = importance_data(study.trials, study.space, "minimize")
    ranking = list(data["importances"])
    assert ranking[0] == "lr"
    assert ranking[-1] == "noise"
    assert data["importances"]["lr"] > 0.5
    assert sum(data["importances"].values()) == pytest.approx(1.0)
    assert data["method"] == "PED-ANOVA" and data["n_trials"] == 400 and data["n_top"] == 40


def test_the_direction_decides_which_trials_are_the_best():
    # Maximizing the negated objective must rate the parameters as minimizing the objective does.
    low = importance_data(random_study(300, seed=3).trials, random_study(1).space, "minimize")
    high_study = random_study(300, seed=3, direction="maximize")
    high = importance_data(high_study.trials, high_study.space, "maximize")
    assert low["importances"] == pytest.approx(high["importances"])
    # Taking the worst trials as "best" rates something else.
    flipped = importance_data(high_study.trials, high_study.space, "minimize")
    assert flipped["importances"] != pytest.approx(high["importances"])


def test_a_categorical_parameter_can_be_the_important_one():
    space = et.Space({"kind": et.Categorical(["a", "b", "c", "d"]), "x": et.Float(0.0, 1.0)})
    rng = np.random.default_rng(0)
    trials = []
    for number in range(300):
        params = space.sample(rng)
        value = (0.0 if params["kind"] == "c" else 5.0) + float(rng.normal(0.0, 0.1))  # x plays no part
        trials.append(Trial(number, params, TrialState.COMPLETE, value=value))
    shares = importance_data(trials, space, "minimize")["importances"]
    assert list(shares) == ["kind", "x"]
    assert shares["kind"] > 0.9


def test_pearson_divergence_is_zero_when_the_top_trials_look_like_all_trials():
    dist = et.Float(0.0, 1.0)
    rng = np.random.default_rng(5)
    everything = rng.random(5000)
    same = pearson_divergence(dist, everything, everything)
    concentrated = pearson_divergence(dist, everything[everything < 0.1], everything)
    assert same == pytest.approx(0.0, abs=1e-12)
    assert concentrated > 1.0


def test_chosen_params_only_and_the_shortcut():
    study = random_study(100)
    shares = param_importances(study, params=["noise", "depth"])
    assert set(shares) == {"noise", "depth"} and sum(shares.values()) == pytest.approx(1.0)


def test_too_few_trials_and_bad_settings_are_refused():
    study = random_study(MIN_TRIALS - 1)
    with pytest.raises(ConfigError, match=f"at least {MIN_TRIALS} complete trials, the study has {MIN_TRIALS - 1}"):
        importance_data(study.trials, study.space, "minimize")
    bigger = random_study(20)
    for bad in (0, 1, 1.5, "0.1", True):
        with pytest.raises(ConfigError, match="top_fraction must be a number in \\(0, 1\\)"):
            importance_data(bigger.trials, bigger.space, "minimize", top_fraction=bad)


def _constant_study(value: float = 0.5, n: int = 20) -> et.Study:
    study = et.Study(mixed_space(), direction="maximize", strategy=et.RandomSearch(seed=0))
    study.optimize(lambda p: value, max_trials=n, show_progress=False)
    return study


def test_a_value_that_does_not_vary_is_refused_rather_than_rated():
    study = _constant_study()
    message = r"the value does not vary \(all 20 complete trials have value = 0\.5\)"
    with pytest.raises(ConfigError, match=message):
        importance_data(study.trials, study.space, "maximize")
    with pytest.raises(ConfigError, match=message):
        param_importances(study)
    # Another metric that does vary can still be rated, and a constant one is named.
    rng = np.random.default_rng(2)
    trials = []
    for number in range(30):
        params = study.space.sample(rng)
        trials.append(Trial(number, params, TrialState.COMPLETE, value=1.0,
                            metrics={"acc": 1.0, "loss": mixed_objective(params)}))
    assert list(importance_data(trials, study.space, "minimize", metric="loss")["importances"])[0] == "lr"
    with pytest.raises(ConfigError, match=r"the metric 'acc' does not vary \(all 30 complete trials have metric 'acc' = 1\.0\)"):
        importance_data(trials, study.space, "maximize", metric="acc")


def _saturated_trials(space: et.Space, seed: int) -> list[Trial]:
    """Accuracy reaches 1.0 for every relu trial (about 60 of 300): far more ties than top places (30)."""
    rng = np.random.default_rng(seed)
    trials = []
    for number in range(300):
        params = space.sample(rng)
        value = 1.0 if params["act"] == "relu" else 0.5 + 0.4 * params["noise"]
        trials.append(Trial(number, params, TrialState.COMPLETE, value=value))
    return trials


def test_trials_tied_at_the_cut_off_weigh_the_same_whatever_their_order():
    space = et.Space({"act": et.Categorical(["relu", "tanh", "gelu", "elu", "selu"]),
                      "noise": et.Float(0.0, 1.0), "depth": et.Int(1, 8)})
    trials = _saturated_trials(space, seed=1)
    data = importance_data(trials, space, "maximize")
    assert data["n_top"] == 30 and list(data["importances"])[0] == "act"
    rng = np.random.default_rng(0)
    for _ in range(3):  # the same trials in another order rate the same
        shuffled = [trials[i] for i in rng.permutation(len(trials))]
        assert importance_data(shuffled, space, "maximize")["importances"] == pytest.approx(data["importances"])
    # One clear best trial and 19 tied ones: the second top place is shared by all 19.
    few = [Trial(0, {"act": "tanh", "noise": 0.9, "depth": 8}, TrialState.COMPLETE, value=0.0)]
    few += [Trial(i, space.sample(rng), TrialState.COMPLETE, value=1.0) for i in range(1, 20)]
    rated = importance_data(few, space, "minimize")["importances"]
    assert importance_data(few[:1] + few[:0:-1], space, "minimize")["importances"] == pytest.approx(rated)


def test_top_weights_share_the_places_left_among_tied_trials():
    assert top_weights(np.array([0.1, 0.2, 0.3, 0.4]), 2).tolist() == [1.0, 1.0, 0.0, 0.0]
    weights = top_weights(np.array([3.0, 1.0, 2.0, 2.0, 2.0, 5.0]), 3)
    assert weights.tolist() == pytest.approx([0.0, 1.0, 2 / 3, 2 / 3, 2 / 3, 0.0])
    assert weights.sum() == pytest.approx(3.0)
    assert top_weights(np.full(4, 7.0), 2).tolist() == [0.5] * 4

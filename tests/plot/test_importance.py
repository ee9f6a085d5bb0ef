"""Parameter importance by PED-ANOVA."""

from __future__ import annotations

import numpy as np
import pytest

import evotune as et
from evotune.exceptions import ConfigError
from evotune.plot import importance_data, param_importances
from evotune.plot.importance import MIN_TRIALS, pearson_divergence
from evotune.trial import Trial, TrialState

from .studies import random_study


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

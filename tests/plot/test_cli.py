"""``evotune plot NAME KIND -o FILE``."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import evotune as et
from evotune.cli import main
from evotune.storage import SQLStorage

from .studies import evolution_study, mixed_space, random_study

pytest.importorskip("plotly")


@pytest.fixture
def url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'plots.db'}"
    random_study(40, storage=url, name="mixed")
    storage = SQLStorage(url)
    evolution_study(storage, name="evo")
    storage.close()
    return url


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("kind", ["history", "parallel", "slice", "contour", "importance"])
def test_each_kind_writes_an_html_file(url, tmp_path, kind):
    out = tmp_path / f"{kind}.html"
    result = run("plot", "mixed", kind, "-o", out, "--storage", url)
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    assert out.stat().st_size > 1_000_000


def test_lineage_and_chosen_contour_params(url, tmp_path):
    assert run("plot", "evo", "lineage", "-o", tmp_path / "l.html", "--storage", url).exit_code == 0
    result = run("plot", "mixed", "contour", "--params", "noise,act", "-o", tmp_path / "c.html", "--storage", url)
    assert result.exit_code == 0, result.output


def test_another_metric_is_plotted_with_the_direction_given(tmp_path):
    url = f"sqlite:///{tmp_path / 'acc.db'}"
    study = et.Study({"x": et.Float(-3.0, 3.0)}, direction="maximize", metric="acc", storage=url, name="acc",
                     strategy=et.RandomSearch(seed=1))
    study.optimize(lambda p: {"acc": -(p["x"] - 1) ** 2, "loss": (p["x"] - 1) ** 2}, max_trials=20)
    out = tmp_path / "loss.html"
    refused = run("plot", "acc", "history", "--metric", "loss", "-o", out, "--storage", url)
    assert refused.exit_code == 2 and "direction must be given to plot metric 'loss'" in refused.output
    assert "--direction" in refused.output and not out.exists()
    result = run("plot", "acc", "history", "--metric", "loss", "--direction", "minimize", "-o", out, "--storage", url)
    assert result.exit_code == 0, result.output
    bad = run("plot", "acc", "history", "--metric", "loss", "--direction", "down", "-o", out, "--storage", url)
    assert bad.exit_code == 2 and "'down' is not one of 'minimize', 'maximize'" in bad.output


@pytest.mark.parametrize("args, message", [
    (["mixed", "pie"], "Invalid value for '{history|parallel|slice|contour|importance|lineage}'"),
    (["nope", "history"], "no study named 'nope'"),
    (["mixed", "lineage"], "lineage needs trials with a generation or parents"),
    (["mixed", "contour", "--params", "lr"], "a contour needs exactly two params, got ['lr']"),
    (["mixed", "slice", "--params", "lr,width"], "got 'width'"),
    (["mixed", "history", "--metric", "loss"], "metric must be one of ['value'], got 'loss'"),
])
def test_bad_input_exits_2_with_the_reason(url, tmp_path, args, message):
    result = run("plot", *args, "-o", tmp_path / "out.html", "--storage", url)
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "out.html").exists()


def test_importance_of_a_study_whose_value_does_not_vary_exits_2_with_the_reason(url, tmp_path):
    constant = et.Study(mixed_space(), strategy=et.RandomSearch(seed=0), storage=url, name="constant")
    constant.optimize(lambda p: 1.0, max_trials=12, show_progress=False)
    result = run("plot", "constant", "importance", "-o", tmp_path / "i.html", "--storage", url)
    assert result.exit_code == 2
    assert "the value does not vary (all 12 complete trials have value = 1.0)" in result.output
    assert not (tmp_path / "i.html").exists()
    assert run("plot", "constant", "contour", "-o", tmp_path / "c.html", "--storage", url).exit_code == 0


def test_a_bad_output_file(url, tmp_path):
    result = run("plot", "mixed", "history", "-o", tmp_path / "out.txt", "--storage", url)
    assert result.exit_code == 2 and "must end in .html" in result.output
    result = run("plot", "mixed", "history", "-o", tmp_path / "missing" / "out.html", "--storage", url)
    assert result.exit_code == 1 and "could not write" in result.output


def test_a_missing_database_is_not_created(tmp_path):
    target = tmp_path / "none.db"
    result = run("plot", "mixed", "history", "-o", tmp_path / "h.html", "--storage", f"sqlite:///{target}")
    assert result.exit_code == 2 and "does not exist" in result.output
    assert not target.exists()

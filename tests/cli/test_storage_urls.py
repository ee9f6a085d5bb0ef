"""The ``--storage`` URL of the commands that open an existing database: wrong URLs, and reading only."""

from __future__ import annotations

import pytest

import evotune as et
import evotune.cli.visual as visual

from ..samples import evotune_file, odd_names_study, other_program_file, schema_and_journal

pytest.importorskip("plotly")

#: Commands that open an existing database, with their arguments before --storage.
COMMANDS = {
    "studies": ["studies"],
    "trials": ["trials", "demo"],
    "best": ["best", "demo"],
    "add": ["add", "demo", "--param", "x=0.5", "--metric", "value=1"],
    "plot": ["plot", "demo", "history", "-o", "out.html"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("url, shown", [
    ("sqlite://:memory:",
     "'sqlite://:memory:' is not valid: its port is not a number (invalid literal for int() with base 10: 'memory:')"),
    ("sqlite://host:99x/a.db", "'sqlite://host:99x/a.db' is not valid: its port is not a number"),
    ("sqlite://me:secret@host:99x/a.db", "'sqlite://me:***@host:99x/a.db' is not valid"),
    ("sqlite://host/a.db", "'sqlite://host/a.db' is not valid: it names a host, port or user"),
])
def test_a_malformed_sqlite_url_is_one_error_line(cli, command, url, shown):
    result = cli(*COMMANDS[command], "--storage", url)
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith(f"Error: storage URL {shown}")
    assert "sqlite:///relative/path.db or sqlite:////absolute/path.db" in result.output
    assert "secret" not in result.output


@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "studies"])
@pytest.mark.parametrize("url", ["sqlite:///", "sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_url_is_refused(cli, command, url):
    result = cli(*COMMANDS[command], "--storage", url)
    assert result.exit_code == 2
    assert result.output == (
        f"Error: no study named 'demo': storage URL {url!r} names no database file: it would open a new, "
        f"empty in-memory database, which holds no studies; write sqlite:///relative/path.db or "
        f"sqlite:////absolute/path.db\n")


def test_listing_and_plotting_change_nothing_in_the_file(cli, tmp_path):
    path = tmp_path / "evotune.db"
    url = evotune_file(path, trials=4, journal="DELETE")
    before = schema_and_journal(path)
    assert before[1] == "delete"
    assert cli("studies", "--storage", url).exit_code == 0
    result = cli("plot", "demo", "history", "-o", tmp_path / "h.html", "--storage", url)
    assert result.exit_code == 0, result.output
    assert schema_and_journal(path) == before


@pytest.mark.parametrize("command", ["studies", "plot"])
def test_another_programs_database_is_refused_and_left_as_it_was(cli, tmp_path, command):
    path = tmp_path / "other.db"
    result = cli(*COMMANDS[command], "--storage", other_program_file(path))
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: storage 'sqlite:///{path}' is not an evotune database (it holds "
                                    f"no evotune tables)")
    assert schema_and_journal(path) == (["users"], "delete")


def test_commands_that_write_still_open_the_database_for_writing(cli, tmp_path):
    url = evotune_file(tmp_path / "evotune.db", trials=4)
    result = cli("add", "demo", "--param", "x=0.5", "--metric", "value=0.5", "--storage", url)
    assert result.exit_code == 0, result.output
    assert len(et.Study.load("demo", url).trials) == 5


# -- evotune plot --params -------------------------------------------------------------------------
@pytest.fixture
def odd_names(tmp_path) -> str:
    """A study whose parameter names hold a comma and spaces."""
    url = f"sqlite:///{tmp_path / 'odd.db'}"
    odd_names_study(url, "odd", 12)
    return url


@pytest.fixture
def drawn(monkeypatch) -> list:
    """The figures `evotune plot` writes (not written to disk here)."""
    figures: list = []

    def save(figure, output):
        figures.append(figure)
        return output

    monkeypatch.setattr(visual, "save_figure", save)
    return figures


@pytest.mark.parametrize("params, axes", [
    (["a,b", "c"], ("a,b", "c")),
    (["c", " d "], ("c", " d ")),
    (["c, d "], ("c", " d ")),  # a part that is a name with its spaces keeps them
    (["c,a,b"], None),  # a,b is no name when split: refused below
])
def test_contour_params_by_name(cli, odd_names, drawn, params, axes):
    options = [item for name in params for item in ("--params", name)]
    result = cli("plot", "odd", "contour", *options, "-o", "c.html", "--storage", odd_names)
    if axes is None:
        assert result.exit_code == 2
        assert result.output.startswith("Error: --params must name parameters of study 'odd' "
                                        "['a,b', 'c', ' d '], got 'a' (in 'c,a,b')")
        return
    assert result.exit_code == 0, result.output
    layout = drawn[0].layout
    assert (layout.xaxis.title.text, layout.yaxis.title.text) == axes


def test_comma_separated_params_still_work_for_plain_names(cli, tmp_path, drawn):
    url = f"sqlite:///{tmp_path / 'plain.db'}"
    space = {"lr": et.Float(0.0, 1.0), "depth": et.Int(1, 4), "noise": et.Float(0.0, 1.0)}
    study = et.Study(space, storage=url, name="plain", strategy=et.RandomSearch(seed=0))
    study.optimize(lambda p: p["lr"] + p["depth"], max_trials=12, show_progress=False)
    result = cli("plot", "plain", "contour", "--params", "depth, lr", "-o", "c.html", "--storage", url)
    assert result.exit_code == 0, result.output
    assert (drawn[0].layout.xaxis.title.text, drawn[0].layout.yaxis.title.text) == ("depth", "lr")
    result = cli("plot", "plain", "slice", "--params", "noise,lr", "--params", "depth", "-o", "s.html",
                 "--storage", url)
    assert result.exit_code == 0, result.output
    assert len(drawn) == 2
    result = cli("plot", "plain", "slice", "--params", "lr,width", "-o", "s.html", "--storage", url)
    assert result.exit_code == 2 and "got 'width' (in 'lr,width')" in result.output

"""The trials table: columns, filters, sorting and pages."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import evotune as et
from evotune.dashboard.table import MAX_PAGE, cell_test, page, select_rows, table_columns, table_rows
from evotune.exceptions import ConfigError
from evotune.trial import Trial, TrialState

SPACE = et.Space({"lr": et.Float(1e-4, 1e-1, log=True), "act": et.Categorical(["relu", "tanh", None])})
START = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


def _trials() -> list[Trial]:
    return [
        Trial(0, {"lr": 1e-3, "act": "relu"}, TrialState.COMPLETE, value=0.9, metrics={"acc": 0.9, "loss": 0.3},
              started_at=START, finished_at=START + timedelta(seconds=2.5), origin="random"),
        Trial(1, {"lr": 1e-2, "act": "tanh"}, TrialState.FAILED, error="ValueError: diverged\n" + "x" * 1000,
              started_at=START, finished_at=START + timedelta(seconds=1)),
        Trial(2, {"lr": 5e-2, "act": None}, TrialState.COMPLETE, value=0.7, metrics={"acc": 0.7, "loss": 0.5},
              started_at=START, finished_at=START + timedelta(seconds=4), generation=1, parents=(0,)),
        Trial(3, {"lr": 2e-4, "act": "relu"}, TrialState.RUNNING, started_at=START),
    ]


@pytest.fixture
def table():
    trials = _trials()
    columns = table_columns(SPACE, trials, metric="acc")
    return columns, table_rows(columns, trials, SPACE)


def test_columns_put_params_and_other_metrics_after_the_value(table):
    columns, _ = table
    assert [c.id for c in columns] == [
        "number", "state", "value", "param:lr", "param:act", "metric:loss", "duration", "started",
        "generation", "origin", "error"]
    value = columns[2]
    assert value.label == "acc" and value.kind == "number"
    assert columns[4].kind == "text"  # a categorical parameter


def test_rows_are_json_ready_cells(table):
    _, rows = table
    assert rows[0] == [0, "COMPLETE", 0.9, 1e-3, "relu", 0.3, 2.5, "2024-05-01T12:00:00+00:00", None, "random",
                       None]
    assert rows[2][4] == "null"  # a None choice, labelled as JSON
    assert rows[1][-1].startswith("ValueError: diverged") and len(rows[1][-1]) == 300
    assert rows[3][2] is None and rows[3][6] is None  # a running trial: no value, no duration yet


@pytest.mark.parametrize("started, sent", [
    (START, "2024-05-01T12:00:00+00:00"),
    (datetime(2024, 5, 1, 12, 0, 0), "2024-05-01T12:00:00+00:00"),  # naive: stored as UTC
    (datetime(2024, 5, 1, 8, 0, 0, 500, tzinfo=timezone(timedelta(hours=-4))), "2024-05-01T12:00:00.000500+00:00"),
])
def test_start_times_are_sent_with_their_zone_for_the_page_to_show_in_local_time(started, sent):
    trials = [Trial(0, {"lr": 1e-3, "act": "relu"}, TrialState.RUNNING, started_at=started)]
    columns = table_columns(SPACE, trials)
    at = [c.id for c in columns].index("started")
    assert columns[at].kind == "time"
    assert table_rows(columns, trials, SPACE)[0][at] == sent


def test_choices_with_the_same_label_get_distinct_cells_and_filters():
    space = et.Space({"c": et.Categorical([1, "1", None, "null"])})
    trials = [Trial(i, {"c": choice}, TrialState.COMPLETE, value=float(i))
              for i, choice in enumerate([1, "1", None, "null"])]
    columns = table_columns(space, trials)
    rows = table_rows(columns, trials, space)
    assert [row[3] for row in rows] == ["1", '"1"', "null", '"null"']
    assert [r[0] for r in select_rows(columns, rows, {"param:c": "=1"})] == [0]
    assert [r[0] for r in select_rows(columns, rows, {"param:c": '="1"'})] == [1]
    assert [r[0] for r in select_rows(columns, rows, {"param:c": "=null"})] == [2]


@pytest.mark.parametrize("expression, expected", [
    (">0.8", [0]), (">=0.7", [0, 2]), ("<0.8", [2]), ("<=0.9", [0, 2]), ("=0.7", [2]), ("!=0.7", [0]),
    ("0.75..1", [0]), ("1 .. 0.6", [0, 2]), ("0.9", [0]), ("", [0, 1, 2, 3]),
])
def test_number_filters(table, expression, expected):
    columns, rows = table
    assert [r[0] for r in select_rows(columns, rows, {"value": expression})] == expected


@pytest.mark.parametrize("column, expression, expected", [
    ("param:act", "relu", [0, 3]), ("param:act", "=RELU", [0, 3]), ("param:act", "!relu", [1, 2]),
    ("state", "fail", [1]), ("error", "diverged", [1]), ("param:act", "null", [2]),
    ("param:lr", "<1e-3", [3]), ("param:lr", "1e-3..1e-2", [0, 1]),
])
def test_text_and_parameter_filters(table, column, expression, expected):
    columns, rows = table
    assert [r[0] for r in select_rows(columns, rows, {column: expression})] == expected


def test_filters_combine(table):
    columns, rows = table
    chosen = select_rows(columns, rows, {"param:act": "relu", "state": "=complete"})
    assert [r[0] for r in chosen] == [0]


def test_sorting_puts_empty_cells_last_in_both_orders(table):
    columns, rows = table
    assert [r[0] for r in select_rows(columns, rows, sort="value")] == [2, 0, 1, 3]
    assert [r[0] for r in select_rows(columns, rows, sort="value", descending=True)] == [0, 2, 1, 3]
    assert [r[0] for r in select_rows(columns, rows, sort="param:act")] == [2, 0, 3, 1]
    assert [r[0] for r in select_rows(columns, rows, descending=True)] == [3, 2, 1, 0]


def test_unknown_columns_are_refused_by_name(table):
    columns, rows = table
    with pytest.raises(ConfigError, match="filter column must be one of .* got 'param:width'"):
        select_rows(columns, rows, {"param:width": ">1"})
    with pytest.raises(ConfigError, match="sort column must be one of .* got 'speed'"):
        select_rows(columns, rows, sort="speed")
    with pytest.raises(ConfigError, match="filter for column 'value' must be text, got 3"):
        select_rows(columns, rows, {"value": 3})


def test_a_filter_that_is_not_a_comparison_matches_text():
    columns = table_columns(SPACE, [])
    test = cell_test(columns[2], ">abc")
    assert test is not None and test(">abc") and not test(0.5)


def test_pages():
    rows = [[i] for i in range(1200)]
    assert page(rows, 0, 10) == [[i] for i in range(10)]
    assert page(rows, 1195, 10) == [[i] for i in range(1195, 1200)]
    assert len(page(rows, 0, 10_000)) == MAX_PAGE
    assert page(rows, 5000, 10) == []

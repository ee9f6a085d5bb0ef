"""The dashboard's HTTP API and pages, through Starlette's test client."""

from __future__ import annotations

import base64
import json
import time
import warnings

import numpy as np
import pytest

import evotune as et
from evotune.storage import MemoryStorage, SQLStorage
from evotune.strategies import Proposal
from evotune.trial import TrialState

from ..plot.studies import HOSTILE_NAME, HOSTILE_PARAM, evolution_study, random_study
from ..samples import odd_names_study

pytest.importorskip("starlette")
pytest.importorskip("plotly")
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx`")

with warnings.catch_warnings():  # starlette asks for httpx2; httpx works the same here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from evotune.dashboard import app as dashboard_app  # noqa: E402
from evotune.dashboard import create_app  # noqa: E402
from evotune.plot import plot_contour  # noqa: E402


def _array(value) -> list:
    """A plotly array from JSON: a list, or a typed array {"dtype", "bdata"}."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
    return list(value)


@pytest.fixture
def storage() -> MemoryStorage:
    storage = MemoryStorage()
    random_study(60, storage=storage, name="mixed")
    evolution_study(storage, name="evo")
    return storage


@pytest.fixture
def client(storage) -> TestClient:
    return TestClient(create_app(storage, poll_seconds=0.5), base_url="http://127.0.0.1:8080")


def test_pages_are_static_and_carry_security_headers(client):
    for path in ("/", "/study?name=mixed"):
        response = client.get(path)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        assert "mixed" not in response.text  # the page holds no data; the script fetches it
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "static/plotly.min.js" in client.get("/study").text


def test_plotly_and_the_page_script_are_served_locally(client):
    plotly_js = client.get("/static/plotly.min.js")
    assert plotly_js.status_code == 200 and len(plotly_js.content) > 1_000_000
    assert plotly_js.headers["content-type"].startswith("text/javascript")
    script = client.get("/static/dashboard.js")
    assert script.status_code == 200
    html_sinks = [sink for sink in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write", "eval(")
                  if sink in script.text]
    assert html_sinks == []
    assert client.get("/static/dashboard.css").status_code == 200
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/secrets.txt").status_code == 404


def test_only_loopback_host_names_are_answered(storage):
    app = create_app(storage)
    for host in ("127.0.0.1:8080", "localhost", "[::1]:8080"):
        assert TestClient(app, base_url=f"http://{host}").get("/api/studies").status_code == 200, host
    refused = TestClient(app, base_url="http://attacker.example").get("/api/studies")
    assert refused.status_code == 400 and "not allowed" in refused.json()["error"]
    anywhere = create_app(storage, allowed_hosts=("*",))
    assert TestClient(anywhere, base_url="http://10.1.2.3:8080").get("/api/studies").status_code == 200


@pytest.mark.parametrize("bound, answered", [
    ("127.0.0.2", ["127.0.0.2:8080", "127.0.0.2", "127.0.0.1:8080", "localhost:8080"]),
    ("::1", ["[::1]:8080", "localhost"]),
    ("localhost", ["localhost:8080", "127.0.0.1"]),
])
def test_a_loopback_server_answers_to_its_own_address_only_among_other_names(storage, monkeypatch, bound,
                                                                            answered):
    import uvicorn

    import evotune.dashboard

    served: list = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append((app, options)))
    evotune.dashboard.serve(storage, host=bound, port=8080)
    app, options = served[0]
    assert options["host"] == bound
    for host in answered:
        assert TestClient(app, base_url=f"http://{host}").get("/api/studies").status_code == 200, host
    for host in ("attacker.example", "attacker.example:8080", "127.0.0.3:8080", "127.0.0.2.attacker.example"):
        assert TestClient(app, base_url=f"http://{host}").get("/api/studies").status_code == 400, host


def test_the_api_is_read_only(client):
    assert client.post("/api/studies").status_code == 405
    assert client.delete("/api/study?name=mixed").status_code == 405


def test_the_study_list(client):
    data = client.get("/api/studies").json()
    assert data["storage"] == "memory" and data["poll_seconds"] == 0.5
    by_name = {s["name"]: s for s in data["studies"]}
    mixed = by_name["mixed"]
    assert mixed["strategy"] == "random" and mixed["n_trials"] == 60 and mixed["n_complete"] == 60
    assert by_name["evo"]["n_failed"] == 3 and by_name["evo"]["best_value"] == pytest.approx(2.5)
    assert mixed["last_activity"] is not None


def test_one_study(client, storage):
    data = client.get("/api/study", params={"name": "evo"}).json()
    assert data["counts"] == {"total": 20, "waiting": 0, "running": 0, "complete": 17, "failed": 3}
    assert data["best"]["value"] == pytest.approx(2.5) and data["has_lineage"] is True
    assert data["params"] == ["x", "y"] and data["direction"] == "minimize"
    assert data["strategy"]["type"] == "manual"
    assert client.get("/api/study", params={"name": "mixed"}).json()["has_lineage"] is False


class Constant(et.Strategy):
    name = "constant"

    def propose(self, space, history, number):
        return Proposal(params={n: d.from_unit(0.5) for n, d in space.items()}, origin="constant")


def test_a_study_of_ones_own_strategy_is_shown(client, storage):
    et.Study({"x": et.Float(0, 1)}, storage=storage, name="own", strategy=Constant(seed=2)).optimize(
        lambda p: p["x"], max_trials=1)
    assert {s["name"]: s["strategy"] for s in client.get("/api/studies").json()["studies"]}["own"] == "constant"
    data = client.get("/api/study", params={"name": "own"}).json()
    assert data["strategy"] == {"type": "constant", "seed": 2} and data["counts"]["complete"] == 1
    assert client.get("/api/plot", params={"name": "own", "kind": "history"}).status_code == 200


def test_the_revision_moves_when_trials_change(client, storage):
    first = client.get("/api/study", params={"name": "mixed"}).json()["revision"]
    study = et.Study.load("mixed", storage)
    trial = study.ask()
    time.sleep(0.3)  # past the reader's reuse window
    running = client.get("/api/study", params={"name": "mixed"}).json()
    assert running["revision"] != first and running["counts"]["running"] == 1
    study.tell(trial, 0.0)
    time.sleep(0.3)
    done = client.get("/api/study", params={"name": "mixed"}).json()
    assert done["revision"] != running["revision"] and done["best"]["number"] == trial.number


def test_trials_pages_sorting_and_filters(client):
    def get(**params):
        response = client.get("/api/trials", params={"name": "mixed", **params})
        assert response.status_code == 200, response.text
        return response.json()

    first = get(limit=10)
    assert first["total"] == 60 and first["matched"] == 60 and len(first["rows"]) == 10
    assert [r[0] for r in first["rows"]] == list(range(10))
    ids = [c["id"] for c in first["columns"]]
    assert ids[:7] == ["number", "state", "value", "param:lr", "param:depth", "param:noise", "param:act"]
    second = get(limit=10, offset=10, sort="number", order="desc")
    assert [r[0] for r in second["rows"]] == list(range(49, 39, -1))
    by_value = get(sort="value", order="asc", limit=60)["rows"]
    values = [r[2] for r in by_value]
    assert values == sorted(values)
    relu = get(filter=json.dumps({"param:act": "=relu", "param:depth": ">=4"}), limit=500)
    assert relu["matched"] == len(relu["rows"]) and 0 < relu["matched"] < 60
    assert all(r[6] == "relu" and r[4] >= 4 for r in relu["rows"])


@pytest.mark.parametrize("params, message", [
    ({"filter": "{not json"}, "query parameter 'filter' must be a JSON object"),
    ({"filter": "[1]"}, "query parameter 'filter' must be a JSON object"),
    ({"filter": json.dumps({"param:width": "1"})}, "filter column must be one of"),
    ({"sort": "speed"}, "sort column must be one of"),
    ({"order": "up"}, "query parameter 'order' must be 'asc' or 'desc', got 'up'"),
    ({"limit": "0"}, "query parameter 'limit' must be in [1, 500], got 0"),
    ({"offset": "ten"}, "query parameter 'offset' must be an integer, got 'ten'"),
])
def test_bad_table_queries_get_a_400_naming_the_problem(client, params, message):
    response = client.get("/api/trials", params={"name": "mixed", **params})
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_unknown_or_missing_study(client):
    missing = client.get("/api/study", params={"name": "nope"})
    assert missing.status_code == 404 and "no study named 'nope'" in missing.json()["error"]
    assert client.get("/api/trials").status_code == 400
    assert "'name' (the study's name) is required" in client.get("/api/plot").json()["error"]


def test_one_trial_in_full(client):
    trial = client.get("/api/trial", params={"name": "evo", "number": 9}).json()
    assert trial["number"] == 9 and trial["state"] == "FAILED" and trial["error"] == "diverged"
    assert trial["generation"] == 1 and len(trial["parents"]) == 2
    bad = client.get("/api/trial", params={"name": "evo", "number": 20})
    assert bad.status_code == 400 and "(0..19), got 20" in bad.json()["error"]


@pytest.mark.parametrize("kind", ["history", "parallel", "slice", "contour", "importance"])
def test_plots_come_as_plotly_figures(client, kind):
    figure = client.get("/api/plot", params={"name": "mixed", "kind": kind}).json()
    assert figure["data"] and "title" in figure["layout"]


def test_lineage_and_contour_options(client):
    lineage = client.get("/api/plot", params={"name": "evo", "kind": "lineage"}).json()
    assert {t["name"] for t in lineage["data"]} == {"parent -> child", "trial", "failed or running", "best path"}
    refused = client.get("/api/plot", params={"name": "mixed", "kind": "lineage"})
    assert refused.status_code == 400 and "lineage needs trials with a generation or parents" in refused.json()["error"]
    no_params = client.get("/api/plot", params={"name": "mixed", "kind": "history", "params": ["noise"]})
    assert no_params.status_code == 400 and "the history plot takes no params" in no_params.json()["error"]
    negative = client.get("/api/trials", params={"name": "mixed", "offset": -5})
    assert negative.status_code == 400 and "'offset' must be >= 0, got -5" in negative.json()["error"]
    contour = client.get("/api/plot", params={"name": "mixed", "kind": "contour", "params": ["noise", "act"]}).json()
    assert contour["layout"]["xaxis"]["title"]["text"] == "noise"
    bad = client.get("/api/plot", params={"name": "mixed", "kind": "pie"})
    assert bad.status_code == 400 and "got 'pie'" in bad.json()["error"]


def test_big_studies_are_thinned_for_the_browser(storage, monkeypatch):
    monkeypatch.setattr(dashboard_app, "PLOT_POINT_LIMIT", 20)
    client = TestClient(create_app(storage), base_url="http://127.0.0.1")
    contour = client.get("/api/plot", params={"name": "mixed", "kind": "contour"}).json()
    assert "(20 of 60 complete trials drawn)" in contour["layout"]["title"]["text"]
    full = plot_contour(et.Study.load("mixed", storage))  # the surface is made from every trial
    z = contour["data"][0]["z"]
    shape = z["shape"] if isinstance(z, dict) else None
    surface = np.array(_array(z), dtype=float).reshape([int(n) for n in shape.split(",")]) if shape else \
        np.array([_array(row) for row in z], dtype=float)
    np.testing.assert_allclose(surface, np.array(full.data[0].z, dtype=float))
    sliced = client.get("/api/plot", params={"name": "mixed", "kind": "slice", "params": ["lr", "depth"]}).json()
    assert "(10 of 60 complete trials drawn)" in sliced["layout"]["title"]["text"]  # the budget is shared
    history = client.get("/api/plot", params={"name": "mixed", "kind": "history"}).json()
    assert "(20 of 60 complete trials drawn)" in history["layout"]["title"]["text"]
    dots, best = (_array(history["data"][i]["x"]) for i in (0, 1))
    assert len(dots) == 20 and best[-1] == 59  # the best-so-far line still reaches the last trial


def test_hostile_names_round_trip_as_data(tmp_path):
    url = f"sqlite:///{tmp_path / 'hostile.db'}"
    space = {HOSTILE_PARAM: et.Float(0.0, 1.0), "c": et.Categorical(["<b>x</b>", "'; --"])}
    study = et.Study(space, storage=url, name=HOSTILE_NAME, strategy=et.RandomSearch(seed=0))
    study.optimize(lambda p: p[HOSTILE_PARAM], max_trials=8, show_progress=False)
    client = TestClient(create_app(url), base_url="http://127.0.0.1")
    assert client.get("/api/studies").json()["studies"][0]["name"] == HOSTILE_NAME
    table = client.get("/api/trials", params={"name": HOSTILE_NAME, "sort": f"param:{HOSTILE_PARAM}"}).json()
    labels = [c["label"] for c in table["columns"]]
    assert HOSTILE_PARAM in labels and table["total"] == 8
    assert {r[4] for r in table["rows"]} <= {"<b>x</b>", "'; --"}
    assert "text/html" not in client.get("/api/studies").headers["content-type"]
    figure = client.get("/api/plot", params={"name": HOSTILE_NAME, "kind": "slice"}).text
    assert "<img" not in figure and "<b>x" not in figure
    assert len(SQLStorage(url).load_study(HOSTILE_NAME).space) == 2  # nothing was dropped


def test_serving_does_not_change_the_storage(tmp_path):
    url = f"sqlite:///{tmp_path / 'same.db'}"
    random_study(30, storage=url, name="mixed")
    before = [t.to_dict() for t in SQLStorage(url).get_trials(1)]
    client = TestClient(create_app(url), base_url="http://127.0.0.1")
    for path in ("/api/studies", "/api/study?name=mixed", "/api/trials?name=mixed&sort=value",
                 "/api/plot?name=mixed&kind=contour", "/api/trial?name=mixed&number=3"):
        assert client.get(path).status_code == 200
    assert [t.to_dict() for t in SQLStorage(url).get_trials(1)] == before


def test_ten_thousand_trials_stay_quick():
    storage = MemoryStorage()
    space = et.Space({"a": et.Float(0.0, 1.0), "b": et.Int(1, 100), "c": et.Categorical(["p", "q", "r"])})
    record, _ = storage.create_study("big", space.to_dict(), "maximize", None, {"type": "evolution"})
    rng = np.random.default_rng(0)
    for number in range(10_000):
        params = space.sample(rng)
        generation = number // 100
        parents = (number - 100, number - 99) if generation else ()
        storage.create_trial(record.study_id, params, TrialState.COMPLETE, generation=generation, parents=parents,
                             value=float(params["a"]), metrics={"value": float(params["a"])})
    client = TestClient(create_app(storage), base_url="http://127.0.0.1")
    client.get("/api/study", params={"name": "big"})  # first read of the 10,000 trials
    started = time.perf_counter()
    page = client.get("/api/trials", params={"name": "big", "sort": "value", "order": "desc", "limit": 50,
                                             "filter": json.dumps({"param:c": "=q"})}).json()
    table_seconds = time.perf_counter() - started
    assert page["total"] == 10_000 and len(page["rows"]) == 50
    assert all(page["rows"][i][2] >= page["rows"][i + 1][2] for i in range(49))
    for kind in ("history", "lineage", "parallel"):
        response = client.get("/api/plot", params={"name": "big", "kind": kind})
        assert response.status_code == 200 and "error" not in response.json()
    started = time.perf_counter()
    client.get("/api/plot", params={"name": "big", "kind": "lineage"})  # cached for this revision
    cached_seconds = time.perf_counter() - started
    assert table_seconds < 2.0 and cached_seconds < 0.5, (table_seconds, cached_seconds)


def test_an_empty_study_and_one_whose_trials_all_failed():
    storage = MemoryStorage()
    study = et.Study({"x": et.Float(0.0, 1.0)}, storage=storage, name="empty")
    client = TestClient(create_app(storage), base_url="http://127.0.0.1")
    data = client.get("/api/study", params={"name": "empty"}).json()
    assert data["best"] is None and data["counts"]["total"] == 0 and data["last_activity"] is None
    assert client.get("/api/trials", params={"name": "empty"}).json()["rows"] == []
    assert client.get("/api/plot", params={"name": "empty", "kind": "history"}).json()["data"]
    study.tell(study.ask(), error="boom")
    time.sleep(0.3)
    data = client.get("/api/study", params={"name": "empty"}).json()
    assert data["best"] is None and data["counts"]["failed"] == 1
    importance = client.get("/api/plot", params={"name": "empty", "kind": "importance"}).json()
    assert "needs at least 5 complete trials, the study has 0" in importance["error"]


@pytest.fixture
def comma_client(tmp_path) -> TestClient:
    """A study whose parameter names hold a comma and spaces, served from an SQLite file."""
    url = f"sqlite:///{tmp_path / 'comma.db'}"
    odd_names_study(url, "comma", 8)
    return TestClient(create_app(url), base_url="http://127.0.0.1")


@pytest.mark.parametrize("params", [["a,b", "c"], [" d ", "a,b"]])
def test_contour_of_parameters_whose_names_hold_commas_or_spaces(comma_client, params):
    figure = comma_client.get("/api/plot", params={"name": "comma", "kind": "contour", "params": params}).json()
    assert "error" not in figure, figure
    axes = figure["layout"]["xaxis"]["title"]["text"], figure["layout"]["yaxis"]["title"]["text"]
    assert list(axes) == params


def test_slice_of_one_parameter_whose_name_holds_a_comma(comma_client):
    figure = comma_client.get("/api/plot", params={"name": "comma", "kind": "slice", "params": ["a,b"]}).json()
    assert "error" not in figure and len(figure["data"]) == 1


@pytest.mark.parametrize("params, unknown", [(["a,b,c"], "a,b,c"), (["c", "zz"], "zz"), (["a"], "a")])
def test_unknown_plot_params_get_a_400_naming_them(comma_client, params, unknown):
    response = comma_client.get("/api/plot", params={"name": "comma", "kind": "slice", "params": params})
    assert response.status_code == 400
    assert response.json()["error"] == (f"query parameter 'params' must name parameters of study 'comma' "
                                        f"['a,b', 'c', ' d '], got {unknown!r}")


def test_a_url_is_opened_read_only_and_another_programs_database_refused(tmp_path):
    import sqlite3

    path = tmp_path / "other.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE users (id INTEGER)")
    connection.commit()
    connection.close()
    with pytest.raises(et.StorageError, match="is not an evotune database"):
        create_app(f"sqlite:///{path}")
    connection = sqlite3.connect(path)
    assert connection.execute("SELECT name FROM sqlite_master").fetchall() == [("users",)]
    assert connection.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    connection.close()
    with pytest.raises(et.StorageError, match="names no database file"):
        create_app("sqlite:///")


def test_a_running_study_is_seen_through_the_read_only_storage(tmp_path):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    study = random_study(5, storage=url, name="live")
    app = create_app(url)
    app.app.state.reader.fresh_seconds = 0.0  # every request reads the storage
    client = TestClient(app, base_url="http://127.0.0.1")
    assert client.get("/api/study", params={"name": "live"}).json()["counts"]["total"] == 5
    study.optimize(lambda p: p["lr"], max_trials=8, show_progress=False)  # the writer, in WAL mode
    running = study.ask()
    counts = client.get("/api/study", params={"name": "live"}).json()["counts"]
    assert (counts["total"], counts["complete"], counts["running"]) == (9, 8, 1)
    study.tell(running, 0.0)
    assert client.get("/api/study", params={"name": "live"}).json()["best"]["number"] == running.number

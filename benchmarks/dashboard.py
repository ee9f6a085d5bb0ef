"""How the dashboard's JSON API holds up on a 10,000-trial study, beside optuna-dashboard.

Both dashboards read a study of N finished trials over the same five parameters: evotune's
from SQLite (its trials carry generations and parents, like an evolutionary search), Optuna's
from its journal file (filling Optuna's SQLite storage with 10,000 trials one by one takes
minutes; the journal is Optuna's fast backend, and the dashboard caches trials either way). Each
request is timed in-process (no network), cold (first request after the server starts, which
reads the whole study) and warm (the median of several repeats); then 10 trials are added and
the next poll is timed. evotune's page polls ``/api/study`` and fetches one table page and one
figure; optuna-dashboard's page polls ``/api/studies/<id>?after=N`` with every new trial.

Run:  python benchmarks/dashboard.py                (10,000 trials, a few minutes)
      python benchmarks/dashboard.py --trials 2000  (quicker)
      python benchmarks/dashboard.py --browser      (also time page loads in headless Chromium)
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

import evotune as et
from evotune.storage import SQLStorage
from evotune.trial import TrialState

logging.getLogger("evotune").setLevel(logging.WARNING)
warnings.simplefilter("ignore")

SPACE = et.Space({"lr": et.Float(1e-5, 1e-1, log=True), "dropout": et.Float(0.0, 0.5, step=0.1),
                  "depth": et.Int(2, 12), "units": et.Int(16, 1024, log=True),
                  "act": et.Categorical(["relu", "tanh", "gelu"])})
POPULATION = 50


def score(params: dict[str, Any], rng: np.random.Generator) -> float:
    return float(-(np.log10(params["lr"]) + 3) ** 2 - 0.05 * (params["depth"] - 6) ** 2 + rng.normal(0, 0.1))


def build_evotune(url: str, n: int, seed: int = 0) -> None:
    storage = SQLStorage(url)
    record, _ = storage.create_study("bench", SPACE.to_dict(), "maximize", "accuracy", {"type": "evolution"})
    rng = np.random.default_rng(seed)
    for number in range(n):
        add_evotune_trial(storage, record.study_id, number, rng)
    storage.close()


def add_evotune_trial(storage: SQLStorage, study_id: int, number: int, rng: np.random.Generator) -> None:
    params = SPACE.sample(rng)
    generation = number // POPULATION
    low = max(0, (generation - 1) * POPULATION)
    parents = tuple(int(p) for p in rng.integers(low, max(low + 1, generation * POPULATION), size=2)) if generation else ()
    value = score(params, rng)
    storage.create_trial(study_id, params, TrialState.COMPLETE, generation=generation, parents=parents,
                         origin="crossover" if generation else "initial", value=value,
                         metrics={"accuracy": value, "loss": -value})


def optuna_storage(path: str) -> Any:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(path))


def build_optuna(path: str, n: int, seed: int = 0) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {
        "lr": optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True),
        "dropout": optuna.distributions.FloatDistribution(0.0, 0.5, step=0.1),
        "depth": optuna.distributions.IntDistribution(2, 12),
        "units": optuna.distributions.IntDistribution(16, 1024, log=True),
        "act": optuna.distributions.CategoricalDistribution(["relu", "tanh", "gelu"]),
    }
    study = optuna.create_study(storage=optuna_storage(path), study_name="bench", direction="maximize")
    rng = np.random.default_rng(seed)
    trials = []
    for _ in range(n):
        params = SPACE.sample(rng)
        trials.append(optuna.trial.create_trial(params=params, distributions=distributions, value=score(params, rng)))
    study.add_trials(trials)
    return study, distributions


class WSGIClient:
    """Calls a WSGI application in-process, like Starlette's TestClient does for ASGI."""

    def __init__(self, app: Callable[..., Any]):
        self.app = app

    def get(self, path: str) -> bytes:
        route, _, query = path.partition("?")
        environ = {
            "REQUEST_METHOD": "GET", "PATH_INFO": route, "QUERY_STRING": query, "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8080", "HTTP_HOST": "127.0.0.1:8080", "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
            "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
        }
        status: list[str] = []
        body = b"".join(self.app(environ, lambda s, headers, exc=None: status.append(s)))
        assert status[0].startswith("200"), (path, status, body[:200])
        return body


def timed(call: Callable[[], bytes], repeats: int) -> tuple[float, float, int]:
    """(first call ms, median of the next ``repeats`` ms, bytes)."""
    start = time.perf_counter()
    body = call()
    first = (time.perf_counter() - start) * 1000
    laps = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        laps.append((time.perf_counter() - start) * 1000)
    return first, statistics.median(laps), len(body)


def evotune_rows(url: str, repeats: int) -> list[tuple[str, str, float, float, int]]:
    from starlette.testclient import TestClient

    from evotune.dashboard import create_app

    client = TestClient(create_app(url), base_url="http://127.0.0.1")

    def get(path: str) -> Callable[[], bytes]:
        def call() -> bytes:
            response = client.get(path)
            assert response.status_code == 200, response.text[:200]
            return response.content
        return call

    filters = json.dumps({"param:act": "=relu", "value": ">-1"})
    total = client.get("/api/study?name=bench").json()["counts"]["total"]
    middle = max(0, (total // 2) // 50 * 50)
    requests = [
        ("study summary (poll)", "/api/study?name=bench"),
        ("table page, sorted by value", "/api/trials?name=bench&sort=value&order=desc&limit=50"),
        ("table page, 2 filters + sort", f"/api/trials?name=bench&sort=param:lr&limit=50&filter={filters}"),
        ("table page, the middle one", f"/api/trials?name=bench&offset={middle}&limit=50"),
    ] + [(f"plot: {kind}", f"/api/plot?name=bench&kind={kind}")
         for kind in ("history", "parallel", "slice", "contour", "importance", "lineage")]
    rows = [("evotune", name, *timed(get(path), repeats)) for name, path in requests]
    storage = SQLStorage(url)
    study_id = storage.load_study("bench").study_id
    count = len(storage.get_trials(study_id))
    rng = np.random.default_rng(99)
    for number in range(count, count + 10):
        add_evotune_trial(storage, study_id, number, rng)
    time.sleep(0.3)  # past the reader's reuse window
    start = time.perf_counter()
    for path in ("/api/study?name=bench", "/api/trials?name=bench&limit=50&sort=number&order=desc",
                 "/api/plot?name=bench&kind=history"):
        get(path)()
    poll = (time.perf_counter() - start) * 1000
    rows.append(("evotune", "poll after 10 new trials (summary + page + history)", poll, poll, 0))
    return rows


def optuna_rows(path: str, repeats: int) -> list[tuple[str, str, float, float, int]]:
    import optuna
    from optuna_dashboard import wsgi

    storage = optuna_storage(path)
    client = WSGIClient(wsgi(storage))
    study_id = storage.get_study_id_from_name("bench")
    requests = [
        ("study list", "/api/studies"),
        ("study with every trial (poll)", f"/api/studies/{study_id}"),
        ("param importances", f"/api/studies/{study_id}/param_importances"),
    ]
    rows = [("optuna-dashboard", name, *timed(lambda p=path: client.get(p), repeats)) for name, path in requests]
    n = len(storage.get_all_trials(study_id, deepcopy=False))
    study = optuna.load_study(study_name="bench", storage=storage)
    rng = np.random.default_rng(99)
    for _ in range(10):
        params = SPACE.sample(rng)
        study.enqueue_trial(params)
        trial = study.ask()
        for name, value in params.items():
            if isinstance(value, str):
                trial.suggest_categorical(name, ["relu", "tanh", "gelu"])
        study.tell(trial, score(params, rng))
    start = time.perf_counter()
    client.get(f"/api/studies/{study_id}?after={n}")
    poll = (time.perf_counter() - start) * 1000
    rows.append(("optuna-dashboard", "poll after 10 new trials (?after=N)", poll, poll, 0))
    return rows


def browser_rows(url: str) -> list[tuple[str, str, float, float, int]]:
    import socket
    import threading

    import uvicorn
    from playwright.sync_api import sync_playwright

    from evotune.dashboard import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(url), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"]
    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.set_default_timeout(120_000)
        start = time.perf_counter()
        page.goto(f"http://127.0.0.1:{port}/study?name=bench")
        page.locator("#trials tbody tr").first.wait_for()
        table = (time.perf_counter() - start) * 1000
        page.locator("#plot .scatterlayer .trace").first.wait_for()
        rows.append(("browser", "study page: table shown", table, table, 0))
        rows.append(("browser", "study page: lineage drawn", (time.perf_counter() - start) * 1000, 0, 0))
        for kind, title in (("history", "history"), ("slice", "slices"), ("contour", "contour"),
                            ("importance", "importance")):
            start = time.perf_counter()
            page.click(f'#plot-tabs button[data-kind="{kind}"]')
            page.wait_for_function("t => document.querySelector('#plot .gtitle')"
                                   " && document.querySelector('#plot .gtitle').textContent.includes(t)", arg=title)
            lap = (time.perf_counter() - start) * 1000
            rows.append(("browser", f"switch to {kind}", lap, lap, 0))
        start = time.perf_counter()
        page.click("#next")
        page.wait_for_function("document.querySelector('#page-info').textContent.startsWith('51')")
        lap = (time.perf_counter() - start) * 1000
        rows.append(("browser", "next table page", lap, lap, 0))
        browser.close()
    server.should_exit = True
    thread.join()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10_000, help="trials of the timed study (default 10,000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed requests per endpoint (default 5)")
    parser.add_argument("--browser", action="store_true", help="also time the page in headless Chromium")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        ours = f"sqlite:///{os.path.join(folder, 'evotune.db')}"
        start = time.perf_counter()
        build_evotune(ours, options.trials)
        print(f"built an evotune study of {options.trials} trials in {time.perf_counter() - start:.1f} s")
        rows = evotune_rows(ours, options.repeats)
        try:
            import optuna_dashboard  # noqa: F401
        except ImportError:
            print("optuna-dashboard is not installed (pip install optuna-dashboard): its column is skipped")
        else:
            theirs = os.path.join(folder, "optuna.log")
            start = time.perf_counter()
            build_optuna(theirs, options.trials)
            print(f"built an Optuna study of {options.trials} trials in {time.perf_counter() - start:.1f} s")
            rows += optuna_rows(theirs, options.repeats)
        if options.browser:
            rows += browser_rows(ours)
    print(f"\nDashboard API on a {options.trials}-trial study (ms; warm = median of {options.repeats})\n")
    print(f"{'dashboard':<17} {'request':<52} {'cold':>8} {'warm':>8} {'KB':>8}")
    for who, name, cold, warm, size in rows:
        print(f"{who:<17} {name:<52} {cold:8.1f} {warm:8.1f} {size / 1024:8.0f}")


if __name__ == "__main__":
    main()

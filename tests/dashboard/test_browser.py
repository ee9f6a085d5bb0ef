"""End to end in headless Chromium: a real server, a real browser, a study that grows meanwhile."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import evotune as et
from evotune.storage import SQLStorage

from ..plot.studies import HOSTILE_NAME, HOSTILE_PARAM, evolution_study
from ..samples import odd_names_study

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("EVOTUNE_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    pytest.importorskip("uvicorn")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no chromium at {CHROMIUM}")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[str, str]]:
    """A dashboard on 127.0.0.1 (free port) over an SQLite file; yields (base URL, storage URL)."""
    url = f"sqlite:///{tmp_path / 'live.db'}"
    storage = SQLStorage(url)
    space = et.Space({"x": et.Float(-5.0, 5.0), HOSTILE_PARAM: et.Float(-5.0, 5.0)})
    evolution_study(storage, name=HOSTILE_NAME, generations=3, population=4, space=space)
    storage.close()
    with _serving(url) as base:
        yield base, url


@contextmanager
def _serving(url: str) -> Iterator[str]:
    """A dashboard over ``url`` on 127.0.0.1 (free port) while the block runs; yields its base URL."""
    import uvicorn

    from evotune.dashboard import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(url, poll_seconds=0.5)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the dashboard did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_list_study_table_plot_and_live_update(browser, server, tmp_path):
    base, url = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.set_default_timeout(20_000)

    # the list of studies
    page.goto(base + "/")
    link = page.locator("#studies tbody tr a")
    link.wait_for()
    assert link.text_content() == HOSTILE_NAME  # shown as text, not markup
    cells = page.locator("#studies tbody tr td").all_text_contents()
    assert cells[1:7] == ["manual", "minimize", "", "12", "10", "2"]

    # one study: its table and a rendered plot (an svg drawn by plotly)
    link.click()
    page.wait_for_url("**/study?name=*")
    assert page.locator("#title").text_content() == HOSTILE_NAME
    page.locator("#trials tbody tr").nth(11).wait_for()
    assert page.locator("#trials tbody tr").count() == 12
    headers = page.locator("#trials thead tr").first.locator("th").all_text_contents()
    assert any(h.startswith(HOSTILE_PARAM) for h in headers)
    page.locator("#plot svg.main-svg").first.wait_for()
    assert page.locator("#plot-tabs button.active").text_content() == "lineage"
    assert page.locator("#plot .scatterlayer .trace").count() >= 3
    page.locator('#plot-tabs button[data-kind="history"]').click()
    page.wait_for_function("document.querySelector('#plot .gtitle')"
                           " && document.querySelector('#plot .gtitle').textContent.includes('optimization history')")

    # the study grows while the page is open: the new trial's row appears by itself
    study = et.Study.load(HOSTILE_NAME, url)
    trial = study.storage.create_trial(study._record.study_id, {"x": 0.0, HOSTILE_PARAM: 0.0},
                                       et.TrialState.RUNNING, generation=3, parents=(8,), origin="mutation")
    page.locator(f'#trials tbody tr[data-number="{trial.number}"]').wait_for()
    study.tell(trial, 0.125)
    page.wait_for_function(
        "document.querySelector('#best .best-head') &&"
        f" document.querySelector('#best .best-head').textContent.startsWith('trial {trial.number}:')")
    assert page.locator("#cards .card-value").first.text_content() == "13"

    # sorting and filtering from the header
    page.locator("#trials thead button.sort", has_text="value").click()
    page.wait_for_function("document.querySelector('#trials tbody tr td:nth-child(3)').textContent === '0.125'")
    page.locator('#trials thead input[aria-label="filter state"]').fill("fail")
    page.wait_for_function("document.querySelectorAll('#trials tbody tr').length === 2")
    assert page.locator("#matched").text_content() == "2 of 13 trials match"

    # details of one trial
    page.locator("#trials tbody tr").first.click()
    page.locator("#detail-panel").wait_for()
    assert '"error": "diverged"' in page.locator("#detail").text_content()

    assert page.locator("img").count() == 0  # the hostile parameter name injected nothing
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    assert problems == []
    page.close()


def test_contour_of_parameters_whose_names_hold_a_comma(browser, tmp_path):
    url = f"sqlite:///{tmp_path / 'comma.db'}"
    odd_names_study(url, "comma", 12)
    with _serving(url) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(20_000)
        page.goto(base + "/study?name=comma")
        page.locator("#plot svg.main-svg").first.wait_for()  # the page is ready: its first plot is drawn
        with page.expect_response(lambda response: "kind=contour" in response.url):  # its default pair
            page.locator('#plot-tabs button[data-kind="contour"]').click()
        page.locator("#contour-x").select_option("a,b")
        with page.expect_response(lambda response: "params=a%2Cb&params=+d+" in response.url):
            page.locator("#contour-y").select_option(" d ")
        page.wait_for_function(
            "document.querySelector('#plot .xtitle')"
            " && document.querySelector('#plot .xtitle').textContent === 'a,b'"
            " && document.querySelector('#plot .ytitle').textContent.trim() === 'd'")
        assert page.locator("#plot-message").is_hidden()
        page.close()


def test_start_times_in_the_table_are_local_like_the_rest_of_the_page(browser, tmp_path):
    url = f"sqlite:///{tmp_path / 'zone.db'}"
    study = et.Study({"x": et.Float(0.0, 1.0)}, storage=url, name="zone", strategy=et.RandomSearch(seed=0))
    study.optimize(lambda params: params["x"], max_trials=1)
    started = study.trials[0].started_at.isoformat()
    study.storage.close()
    with _serving(url) as base:
        context = browser.new_context(timezone_id="America/New_York", locale="en-US")
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(base + "/study?name=zone")
        page.locator("#trials tbody tr").first.wait_for()
        headers = page.locator("#trials thead tr").first.locator("th").all_text_contents()
        cell = page.locator("#trials tbody tr td").nth(headers.index("started"))
        local = page.evaluate("iso => new Date(iso).toLocaleString()", started)
        assert cell.text_content() == local  # as the cards and the study list show times
        assert cell.get_attribute("title") == started  # the stored UTC instant, on hover
        context.close()

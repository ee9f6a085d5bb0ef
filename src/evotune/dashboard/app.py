"""The dashboard's web application: two static pages and a small read-only JSON API.

Routes (all GET):

- ``/``: the list of studies; ``/study?name=...``: one study (plots, trials, best trial).
- ``/api/studies``; ``/api/study?name=``; ``/api/trials?name=&offset=&limit=&sort=&order=&filter=``
  (``filter`` is a JSON object column id -> expression, see :mod:`evotune.dashboard.table`);
  ``/api/trial?name=&number=``; ``/api/plot?name=&kind=&params=a&params=b`` (a plotly figure;
  one ``params`` key per parameter, so a name may hold any character, commas included).
- ``/static/...``: the page script and style, and plotly.js from the installed plotly package.

The pages hold no data: the browser fetches JSON and builds the page with ``textContent``,
so nothing read from a study is ever parsed as HTML. Every response carries a strict
Content-Security-Policy, and requests whose Host header is not an allowed name are refused,
which keeps a web page in the user's browser from reading the dashboard through DNS
rebinding.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
from collections.abc import Sequence
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from evotune.dashboard.reader import CachedStudy, StudyReader
from evotune.dashboard.table import MAX_PAGE, page, select_rows, table_columns, table_rows
from evotune.exceptions import ConfigError, EvotuneError, StudyNotFoundError
from evotune.plot import PLOT_KINDS, check_kind, has_lineage, plot, plot_contour, plot_history
from evotune.plot.data import thinned_indices
from evotune.storage import Storage
from evotune.trial import TrialState

#: Host names a dashboard bound to a loopback address answers to.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
#: Points a plot sends to the browser (SVG slows down past a few thousand); see _figure_json.
PLOT_POINT_LIMIT = 3000

#: No inline script may run, so markup slipped into the page could not execute anything.
#: 'unsafe-eval' is there for plotly.js's WebGL traces (parallel coordinates), which compile
#: their shaders' glue code at run time; the page's own script has no eval-like call.
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'none'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
     b"img-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:; base-uri 'none'; "
     b"form-action 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_host_names(host: str) -> tuple[str, ...]:
    """The Host header names a dashboard bound to ``host`` answers to.

    Bound to a loopback address, it answers to the loopback names and to that address
    itself (so ``--host 127.0.0.2`` serves http://127.0.0.2:PORT/), with any port; a name
    that a DNS record could point at the machine is refused, which defeats DNS rebinding.
    Bound to any other address it answers to every name (``"*"``).
    """
    if not is_loopback(host):
        return ("*",)
    name = host.lower().strip("[]")
    try:
        name = str(ipaddress.ip_address(name))  # one spelling per address: 0:0::1 -> ::1
    except ValueError:
        pass
    return LOOPBACK_NAMES if name in LOOPBACK_NAMES else (*LOOPBACK_NAMES, name)


def _host_name(header: str) -> str:
    if header.startswith("["):  # [::1]:8080
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class GuardMiddleware:
    """Refuses unknown Host headers and adds the security headers to every response."""

    def __init__(self, app: Any, allowed_hosts: Sequence[str]):
        self.app = app
        self.any_host = "*" in allowed_hosts
        self.allowed = {h.lower().strip("[]") for h in allowed_hosts}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        host = _host_name(headers.get(b"host", b"").decode("latin-1").lower())
        if not self.any_host and host not in self.allowed:
            response = JSONResponse({"error": f"host {host!r} is not allowed"}, status_code=400)
            await response(scope, receive, self._secured(send))
            return
        await self.app(scope, receive, self._secured(send))

    @staticmethod
    def _secured(send: Any) -> Any:
        async def wrapped(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + SECURITY_HEADERS
            await send(message)
        return wrapped


def _asset(name: str) -> bytes:
    return (resources.files("evotune.dashboard") / "static" / name).read_bytes()


def _plotly_js() -> str:
    try:
        import plotly
        import plotly.graph_objects  # noqa: F401  (loaded now, not on the first plot request)
    except ImportError:
        raise ImportError("the dashboard needs plotly: pip install 'evotune[dashboard]'") from None
    path = os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")
    if not os.path.exists(path):
        raise ImportError(f"plotly.js is missing from the installed plotly package (looked for {path})")
    return path


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _json(data: Any) -> Response:
    return Response(json.dumps(data, allow_nan=False, separators=(",", ":")), media_type="application/json",
                    headers={"cache-control": "no-store"})


def _stamp(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"query parameter {name!r} must be an integer, got {raw!r}") from None


def _name(request: Request) -> str:
    name = request.query_params.get("name")
    if not name:
        raise ConfigError("query parameter 'name' (the study's name) is required")
    return name


def create_app(storage: Storage, *, allowed_hosts: Sequence[str] = LOOPBACK_NAMES,
               poll_seconds: float = 2.0) -> Any:
    """Build the dashboard's ASGI application over a storage (only read from).

    Args:
        storage: Where the studies are.
        allowed_hosts: Host names the server answers to (``"*"`` for any).
        poll_seconds: How often an open page asks for news.
    """
    reader = StudyReader(storage)
    pages = {name: _asset(name) for name in ("index.html", "study.html")}
    assets = {"dashboard.js": (_asset("dashboard.js"), "text/javascript"),
              "dashboard.css": (_asset("dashboard.css"), "text/css")}
    plotly_path = _plotly_js()

    def guarded(handler: Any) -> Any:
        def endpoint(request: Request) -> Response:
            try:
                return handler(request)
            except StudyNotFoundError as error:
                return _error(404, str(error))
            except (ConfigError, ValueError) as error:
                return _error(400, str(error))
            except EvotuneError as error:
                return _error(500, str(error))
        return endpoint

    def index(request: Request) -> Response:
        return Response(pages["index.html"], media_type="text/html; charset=utf-8")

    def study_page(request: Request) -> Response:
        return Response(pages["study.html"], media_type="text/html; charset=utf-8")

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "plotly.min.js":
            return FileResponse(plotly_path, media_type="text/javascript",
                                headers={"cache-control": "public, max-age=86400"})
        if name not in assets:
            return _error(404, "no such file")
        body, media_type = assets[name]
        return Response(body, media_type=media_type, headers={"cache-control": "no-cache"})

    def api_studies(request: Request) -> Response:
        return _json({"storage": reader.storage.safe_url, "poll_seconds": poll_seconds, "studies": [
            {"name": s.name, "direction": s.direction, "metric": s.metric, "strategy": s.strategy,
             "n_trials": s.n_trials, "n_complete": s.n_complete, "n_failed": s.n_failed,
             "best_value": s.best_value, "created_at": _stamp(s.created_at),
             "last_activity": _stamp(s.last_activity)}
            for s in reader.summaries()
        ]})

    def api_study(request: Request) -> Response:
        cached = reader.study(_name(request))
        return _json(reader.derived(cached, "study", lambda: _study_summary(cached, poll_seconds)))

    def api_trials(request: Request) -> Response:
        cached = reader.study(_name(request))
        raw_filter = request.query_params.get("filter") or "{}"
        try:
            filters = json.loads(raw_filter)
        except json.JSONDecodeError:
            raise ConfigError(f"query parameter 'filter' must be a JSON object, got {raw_filter!r}") from None
        if not isinstance(filters, dict):
            raise ConfigError(f"query parameter 'filter' must be a JSON object, got {raw_filter!r}")
        order = request.query_params.get("order", "asc")
        if order not in ("asc", "desc"):
            raise ConfigError(f"query parameter 'order' must be 'asc' or 'desc', got {order!r}")
        sort = request.query_params.get("sort") or None
        offset, limit = _int(request, "offset", 0), _int(request, "limit", 50)
        if offset < 0:
            raise ConfigError(f"query parameter 'offset' must be >= 0, got {offset}")
        if limit < 1 or limit > MAX_PAGE:
            raise ConfigError(f"query parameter 'limit' must be in [1, {MAX_PAGE}], got {limit}")
        revision = _revision(cached)
        columns, rows = reader.derived(cached, "table", lambda: _table(cached))
        chosen = select_rows(columns, rows, filters, sort, order == "desc")
        return _json({"revision": revision, "columns": [c.to_dict() for c in columns],
                      "total": len(rows), "matched": len(chosen), "offset": offset,
                      "rows": page(chosen, offset, limit)})

    def api_trial(request: Request) -> Response:
        cached = reader.study(_name(request))
        number = _int(request, "number", -1)
        if not 0 <= number < len(cached.trials):
            raise ConfigError(f"query parameter 'number' must be a trial of the study "
                              f"(0..{len(cached.trials) - 1}), got {number}")
        return _json(cached.trials[number].to_dict())

    def api_plot(request: Request) -> Response:
        cached = reader.study(_name(request))
        kind = request.query_params.get("kind", "history")
        if kind not in PLOT_KINDS:
            raise ConfigError(f"query parameter 'kind' must be one of {list(PLOT_KINDS)}, got {kind!r}")
        params = tuple(p for p in request.query_params.getlist("params") if p) or None
        unknown = [p for p in params or () if p not in cached.space]
        if unknown:
            raise ConfigError(f"query parameter 'params' must name parameters of study {cached.record.name!r} "
                              f"{list(cached.space)}, got {unknown[0]!r}")
        check_kind(kind, params)
        status, body = reader.derived(cached, ("plot", kind, params),
                                      lambda: _figure_json(cached, kind, params))
        return Response(body, status_code=status, media_type="application/json",
                        headers={"cache-control": "no-store"})

    routes = [
        Route("/", index), Route("/study", study_page), Route("/static/{name}", static),
        Route("/api/studies", guarded(api_studies)), Route("/api/study", guarded(api_study)),
        Route("/api/trials", guarded(api_trials)), Route("/api/trial", guarded(api_trial)),
        Route("/api/plot", guarded(api_plot)),
    ]
    app = Starlette(routes=routes)
    app.state.reader = reader
    return GuardMiddleware(app, allowed_hosts)


def _revision(cached: CachedStudy) -> str:
    """Changes whenever the study's trials do (an opaque string for the page to compare)."""
    return "{}.{}".format(*cached.version)


def _table(cached: CachedStudy) -> tuple[Any, Any]:
    trials = list(cached.trials)  # a copy: another request may be appending to it
    columns = table_columns(cached.space, trials, cached.record.metric)
    return columns, table_rows(columns, trials, cached.space)


def _study_summary(cached: CachedStudy, poll_seconds: float) -> dict[str, Any]:
    revision = _revision(cached)
    record, trials = cached.record, list(cached.trials)
    counts = {state.value: 0 for state in TrialState}
    for trial in trials:
        counts[trial.state.value] += 1
    complete = [t for t in trials if t.state is TrialState.COMPLETE and t.value is not None]
    best = None
    if complete:
        pick = min if record.direction == "minimize" else max
        best = pick(complete, key=lambda t: t.value).to_dict()  # type: ignore[arg-type,return-value]
    stamps = [t.finished_at or t.started_at for t in trials if t.finished_at or t.started_at]
    metrics: dict[str, None] = {}
    for trial in trials:
        for name in trial.metrics:
            metrics.setdefault(name, None)
    strategy = record.attrs.get("strategy", record.strategy)
    return {
        "name": record.name, "direction": record.direction, "metric": record.metric,
        "strategy": strategy, "space": cached.space.to_dict(), "params": list(cached.space),
        "metrics": list(metrics), "created_at": _stamp(record.created_at),
        "last_activity": _stamp(max(stamps)) if stamps else None, "revision": revision,
        "counts": {"total": len(trials), **{k.lower(): v for k, v in counts.items()}},
        "best": best, "has_lineage": has_lineage(trials), "plot_kinds": list(PLOT_KINDS),
        "poll_seconds": poll_seconds,
    }


def _thinned(cached: CachedStudy, limit: int) -> Any:
    """The study with at most ``limit`` complete trials: the best fifth, the others evenly spaced."""
    snapshot = cached.snapshot()
    complete = [t for t in snapshot.trials if t.state is TrialState.COMPLETE]
    if len(complete) <= limit:
        return snapshot
    worst = math.inf if snapshot.direction == "minimize" else -math.inf
    values = [t.value if t.value is not None else worst for t in complete]
    keep = {complete[i].number for i in thinned_indices(values, snapshot.direction, limit)}
    trials = [t for t in snapshot.trials if t.number in keep]
    return type(snapshot)(snapshot.name, snapshot.space, snapshot.direction, snapshot.metric, trials)


def _figure_json(cached: CachedStudy, kind: str, params: tuple[str, ...] | None) -> tuple[int, str]:
    """``(HTTP status, body)``: a figure for the browser, with at most about ``PLOT_POINT_LIMIT``
    points drawn, or (400, an error) when this study cannot be drawn so.

    History and lineage use every trial (the best-so-far line and the family tree need them
    all; the history thins only its dots), and so does the contour's surface (its dots are
    thinned); importance uses every trial and draws a few bars. Slices split the budget
    between their panels.
    """
    try:
        if kind == "history":
            fig = plot_history(cached.snapshot(), max_points=PLOT_POINT_LIMIT)
        elif kind in ("lineage", "importance"):
            fig = plot(cached.snapshot(), kind, params=params)
        elif kind == "contour":  # the surface from every trial, the dots thinned
            fig = plot_contour(cached.snapshot(), params=params, max_points=PLOT_POINT_LIMIT)
            drawn, total = len(fig.data[1].x), sum(t.state is TrialState.COMPLETE for t in cached.trials)
            if drawn < total:
                fig.update_layout(title_text=f"{fig.layout.title.text} ({drawn} of {total} complete trials drawn)")
        else:
            panels = len(params) if params and kind == "slice" else len(cached.space) if kind == "slice" else 1
            limit = max(PLOT_POINT_LIMIT // panels, 1)
            thinned = _thinned(cached, limit)
            fig = plot(thinned, kind, params=params)
            if len(thinned.trials) < len(cached.trials):
                shown = sum(t.state is TrialState.COMPLETE for t in thinned.trials)
                total = sum(t.state is TrialState.COMPLETE for t in cached.trials)
                fig.update_layout(title_text=f"{fig.layout.title.text} ({shown} of {total} complete trials drawn)")
    except ConfigError as error:
        return 400, json.dumps({"error": str(error)})
    return 200, fig.to_json()

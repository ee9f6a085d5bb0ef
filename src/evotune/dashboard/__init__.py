"""A local web dashboard of the studies in a storage: ``evotune dashboard``.

It lists the studies, and for each one shows the plots of :mod:`evotune.plot`, a sortable
and filterable table of the trials and the best trial, refreshing itself while the study
runs. It only reads the storage. Needs ``pip install 'evotune[dashboard]'`` (Starlette,
uvicorn and plotly; plotly.js is served from the installed plotly package, so it works
offline).

Example:
    >>> from evotune.dashboard import serve
    >>> serve("sqlite:///evotune.db", port=8080)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from evotune.storage import Storage, open_storage


def _require() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise ImportError(
            "the dashboard needs starlette and uvicorn: pip install 'evotune[dashboard]'"
        ) from None


def create_app(storage: Storage | str, **options: Any) -> Any:
    """The dashboard's ASGI application (see :func:`evotune.dashboard.app.create_app`).

    A URL is opened for reading only: the database must hold evotune's tables, and nothing
    in it is changed (see :class:`evotune.storage.SQLStorage`).

    Raises:
        StorageError: When the URL names no evotune database.
    """
    _require()
    from evotune.dashboard.app import create_app as build

    return build(open_storage(storage, read_only=True), **options)


def serve(storage: Storage | str, host: str = "127.0.0.1", port: int = 8080, poll_seconds: float = 2.0) -> None:
    """Serve the dashboard until interrupted.

    Bound to a loopback address it answers only to loopback host names and that address;
    bound to any other address it answers to every host name, so anyone who can reach the
    machine can read the studies (see :func:`evotune.dashboard.app.allowed_host_names`).
    """
    _require()
    import uvicorn

    from evotune.dashboard.app import allowed_host_names

    app = create_app(storage, allowed_hosts=allowed_host_names(host), poll_seconds=poll_seconds)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


__all__ = ["create_app", "serve"]

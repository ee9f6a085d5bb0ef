"""Commands that show a study: ``evotune plot`` (a figure to a file) and ``evotune dashboard``."""

from __future__ import annotations

import socket
from collections.abc import Sequence

import click

from evotune.cli.main import InputError, load_study, main, no_database, open_existing, storage_option
from evotune.plot import PLOT_KINDS, plot, save_figure
from evotune.space import Space
from evotune.storage import redact_url
from evotune.study import DIRECTIONS


@main.command("plot")
@click.argument("name")
@click.argument("kind", type=click.Choice(PLOT_KINDS))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="File to write: .html (self-contained, works offline), or .png/.svg/.pdf (needs kaleido).")
@click.option("--params", "params", multiple=True, metavar="A,B",
              help="Parameters to show, comma-separated or with the option repeated (contour: exactly two; "
                   "default: all, or the two most important for contour). A name holding a comma or "
                   "spaces is given alone: --params 'a,b' --params c.")
@click.option("--metric", default=None, help="Plot this metric instead of the optimized one.")
@click.option("--direction", type=click.Choice(DIRECTIONS), default=None,
              help="Whether lower or higher --metric is better: needed for a metric other than the optimized "
                   "one (except by slice), whose direction is the study's.")
@storage_option
def plot_command(name: str, kind: str, output: str, params: tuple[str, ...], metric: str | None,
                 direction: str | None, storage: str) -> None:
    """Draw one plot of study NAME and write it to a file.

    \b
    KIND is one of:
      history     every trial's value and the best so far
      parallel    parallel coordinates of the parameters and the value
      slice       the value against each parameter
      contour     the value over two parameters (--params a,b)
      importance  each parameter's importance (PED-ANOVA)
      lineage     the family tree of an evolutionary study

    \b
    Examples:
      evotune plot mlp history -o history.html
      evotune plot mlp contour --params lr,depth -o contour.png
      evotune plot mlp contour --params "batch, size" --params lr -o contour.html
      evotune plot mlp history --metric loss --direction minimize -o loss.html
    """
    study = load_study(name, storage, read_only=True)
    names = parameter_names(study.space, params, study.name) or None
    figure = plot(study, kind, params=names, metric=metric, direction=direction)
    try:
        written = save_figure(figure, output)
    except (ImportError, RuntimeError) as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"could not write {output!r}: {error.strerror or error}") from None
    click.echo(f"wrote {written}")


def parameter_names(space: Space, values: Sequence[str], study: str) -> list[str]:
    """The parameters named by the ``--params`` values, in order.

    A value that is the name of a parameter, exactly, names it; any other value is a
    comma-separated list of names, each with the spaces around it removed unless the name
    itself has them. So ``lr,depth`` is two parameters, and a parameter whose name holds a
    comma or spaces is chosen by giving that name as one value.

    Raises:
        InputError: When a name is not a parameter of the space.
    """
    names: list[str] = []
    for value in values:
        if value in space:
            names.append(value)
            continue
        for part in value.split(","):
            if part in space or part.strip() in space:
                names.append(part if part in space else part.strip())
            elif part.strip():
                raise InputError(f"--params must name parameters of study {study!r} {list(space)}, got "
                                 f"{part.strip()!r} (in {value!r}); a name that holds a comma or spaces is "
                                 f"given alone, as one --params value")
    return names


def _port_free(host: str, port: int) -> str | None:
    """None when ``host:port`` can be bound, else the reason."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.strerror or str(error)
    return None


@main.command()
@storage_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but a loopback address exposes the studies to the network.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--poll", default=2.0, show_default=True, type=click.FloatRange(0.2, 3600),
              help="Seconds between a page's refreshes.")
def dashboard(storage: str, host: str, port: int, poll: float) -> None:
    """Serve a web page of the studies in the storage (read-only), refreshing while they run.

    \b
    Examples:
      evotune dashboard                      then open http://127.0.0.1:8080
      evotune dashboard --storage sqlite:///runs/tune.db --port 9000
    """
    try:
        from evotune.dashboard import serve
        from evotune.dashboard.app import is_loopback
    except ImportError as error:
        raise click.ClickException(str(error)) from None
    opened = open_existing(storage, read_only=True)
    if opened is None:
        raise InputError(no_database(storage))
    if not is_loopback(host):
        click.echo(
            f"Warning: --host {host} makes the dashboard reachable from other machines: anyone who can "
            f"connect to port {port} can read every study, parameter and error message (there is no login).",
            err=True,
        )
    problem = _port_free(host, port)
    if problem is not None:
        raise click.ClickException(f"cannot listen on {host}:{port}: {problem}; choose another --port or --host")
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"evotune dashboard on http://{shown}:{port}/  (storage {redact_url(storage)}; Ctrl+C to stop)")
    try:
        serve(opened, host=host, port=port, poll_seconds=poll)
    except ImportError as error:
        raise click.ClickException(str(error)) from None

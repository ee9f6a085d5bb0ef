"""Writing figures to files: self-contained HTML always, images through kaleido."""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from evotune.exceptions import ConfigError

IMAGE_FORMATS = ("png", "svg", "pdf", "jpeg", "jpg", "webp")
CHROME_HINT = (
    "kaleido draws images with Chrome or Chromium: install one (Debian/Ubuntu: apt-get install chromium; "
    "or run plotly_get_chrome), or write the figure as .html instead"
)


def save_figure(fig: Any, path: str | os.PathLike[str], *, width: int = 1100, height: int | None = None,
                scale: float = 1.0) -> str:
    """Write a figure to ``path``; the suffix picks the format.

    ``.html`` writes one self-contained page with plotly.js inlined (it opens offline).
    ``.png``, ``.svg``, ``.pdf``, ``.jpeg`` and ``.webp`` need the ``kaleido`` package and,
    for kaleido 1.x, a Chrome or Chromium browser on the machine.

    Args:
        fig: A plotly figure.
        path: Where to write.
        width, height: Image size in pixels (images only; height defaults to the figure's or 600).
        scale: Image resolution multiplier (images only).

    Returns:
        The path written, as a string.

    Raises:
        ConfigError: For an unknown suffix.
        ImportError: For an image when kaleido is not installed.
        RuntimeError: For an image when kaleido cannot start a browser.
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower().lstrip(".")
    if suffix in ("html", "htm"):
        fig.write_html(path, include_plotlyjs=True, full_html=True)
        return path
    if suffix not in IMAGE_FORMATS:
        raise ConfigError(
            f"output file must end in .html or one of {', '.join('.' + f for f in IMAGE_FORMATS)}, got {path!r}"
        )
    if importlib.util.find_spec("kaleido") is None:
        raise ImportError(
            f"writing .{suffix} images needs kaleido: pip install 'evotune[plot]' (or pip install kaleido); "
            f"{CHROME_HINT}"
        )
    size_height = height or fig.layout.height or 600
    try:
        fig.write_image(path, format="jpeg" if suffix == "jpg" else suffix, width=width, height=size_height,
                        scale=scale)
    except (OSError, ValueError, RuntimeError) as error:
        raise RuntimeError(f"could not write {path!r}: {error}. {CHROME_HINT}") from error
    except Exception as error:  # kaleido and its browser driver raise their own error types
        if "chrome" in type(error).__name__.lower() or "chrome" in str(error).lower():
            raise RuntimeError(f"could not write {path!r}: {error}. {CHROME_HINT}") from error
        raise
    return path

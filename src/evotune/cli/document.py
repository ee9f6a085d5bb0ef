"""Reading the raw tables of a configuration file: TOML, or YAML with the same meaning.

YAML values mean what they mean in TOML (YAML 1.2): ``1e-5`` is a float, and only true and
false are booleans (``no``, ``yes``, ``on`` and ``off`` stay strings). What the tables must hold
is checked by :mod:`evotune.cli.config`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from evotune.exceptions import ConfigError


def read_document(path: str | Path) -> dict[str, Any]:
    """The raw tables of a TOML (``.toml``) or YAML (``.yaml``/``.yml``) file.

    Raises:
        ConfigError: When the file cannot be read or parsed, with the parser's position.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the file: {error}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError(f"{path}: reading YAML needs PyYAML: pip install pyyaml (or use TOML)") from None
        try:
            loader = _yaml_loader(yaml)(text)  # a SafeLoader: it builds no Python objects
            try:
                document = loader.get_single_data()
            finally:
                loader.dispose()
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: invalid YAML: {error}") from None
        document = {} if document is None else document
    else:
        try:
            import tomllib
        except ImportError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: invalid TOML: {error}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected tables [study], [space], [strategy], [run]; got {document!r}")
    return document


def _yaml_loader(yaml: Any) -> type:
    """A SafeLoader that reads booleans and floats by YAML 1.2's core schema, as TOML reads them.

    PyYAML follows YAML 1.1: ``1e-5`` stays a string, and ``yes``/``no``/``on``/``off`` become
    booleans (a choice ``no`` would silently be False). Here only true and false (also True,
    TRUE, False, FALSE) are booleans, and ``1e-5``, ``1E5``, ``-2.5e+3``, ``.5`` are floats.
    """
    boolean, number = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:float"

    class Loader(yaml.SafeLoader):
        yaml_implicit_resolvers = {
            first: [(tag, pattern) for tag, pattern in resolvers if tag not in (boolean, number)]
            for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
        }

    Loader.add_implicit_resolver(boolean, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    Loader.add_implicit_resolver(number, re.compile(  # a '.' or an exponent: plain integers stay ints
        r"^(?:[-+]?(?:[0-9]+(?:\.[0-9]*)?[eE][-+]?[0-9]+|[0-9]+\.[0-9]*|\.[0-9]+(?:[eE][-+]?[0-9]+)?)"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+.0123456789"))
    return Loader


__all__ = ["read_document"]

"""A profile file read as TOML, within the configuration's limits, with a line per key.

`tomllib` has no limits of its own and reports no positions after parsing; a profile comes
from a checkout anyone may have edited. Here the text is read within `neodev.config.limits`
(size, nesting, string length), a syntax error names its line, and a best-effort map from
dotted key paths to lines lets every later ConfigError point at the line of its key (as
`yamlsrc.py` does for compose files).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neodev.config.interpolate import join_path, line_for
from neodev.config.limits import MAX_DEPTH, depth_problem, read_config_text, string_problem
from neodev.errors import ConfigError


def read_profile_file(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """Read and parse a profile file within the limits of `neodev.config.limits`.

    Returns:
        (the parsed TOML, dotted key path -> line number).

    Raises:
        ConfigError: unreadable, too large, not UTF-8, TOML syntax, nesting or string length
            beyond the limits.
    """
    file = str(path)
    text = read_config_text(path, "profile")
    data = parse_toml(text, file)
    lines = toml_lines(text)
    _check_limits(data, file, lines)
    return data, lines


def parse_toml(text: str, file: str) -> dict[str, Any]:
    """Parse TOML text; a syntax error becomes a ConfigError with the line number."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = re.search(r"\(at line (\d+), column (\d+)\)", message)
        line = int(match.group(1)) if match else None
        detail = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
        if match:
            detail += f" (column {match.group(2)})"
        raise ConfigError(f"TOML syntax error: {detail}", file=file, line=line) from exc
    except RecursionError as exc:
        # tomllib recurses once per nested array or inline table, with no limit of its own.
        raise ConfigError(str(depth_problem(MAX_DEPTH + 1)), file=file) from exc
    except ValueError as exc:
        # Not a TOMLDecodeError: e.g. an integer longer than Python converts.
        raise ConfigError(f"invalid TOML value: {exc}", file=file) from exc


def _check_limits(data: dict[str, Any], file: str, lines: Mapping[str, int]) -> None:
    """MAX_DEPTH and MAX_STRING_CHARS on parsed TOML (keys and values)."""
    # Iterative: dotted table headers nest without tomllib recursing, deeper than Python could.
    stack: list[tuple[object, str, int]] = [(data, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        problem = None
        if isinstance(node, str):
            problem = string_problem(node)
        elif isinstance(node, dict | list):
            problem = depth_problem(depth)
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in items:
                if problem is None and isinstance(key, str):
                    problem = string_problem(key, "key")
                stack.append((child, join_path(path, key), depth + 1))
        if problem:
            raise ConfigError(problem, file=file, line=line_for(lines, path) if path else None,
                              key=path or None)


# Linear-time on any line: a lazy `+?` followed by `\s*` would rescan runs of spaces.
_HEADER = re.compile(r"\[\[?([^\]]*)\]")
_KEY = re.compile(r"([A-Za-z0-9_\-.\"]+)\s*=")


def toml_lines(text: str) -> dict[str, int]:
    """Best-effort map of dotted key path -> line, from table headers and `key =` lines."""
    lines: dict[str, int] = {}
    table = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        header = _HEADER.match(stripped)
        if header:
            table = ".".join(p.strip().strip('"') for p in header.group(1).split("."))
            lines.setdefault(table, number)
            continue
        key = _KEY.match(stripped)
        if key:
            name = ".".join(p.strip().strip('"') for p in key.group(1).split("."))
            lines.setdefault(f"{table}.{name}" if table else name, number)
    return lines

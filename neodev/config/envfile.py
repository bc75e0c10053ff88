"""`.env` files, parsed the way docker compose parses them.

- `KEY=VALUE` lines; blank lines and lines starting with `#` are ignored; an `export ` prefix
  is allowed (so the file can be sourced by a shell too).
- Unquoted values are trimmed; ` #` starts an inline comment.
- `'single'` quotes keep the text literally (no escapes, no interpolation).
- `"double"` quotes understand `\\n`, `\\t`, `\\r`, `\\"`, `\\\\` and may span lines.
- Unquoted and double-quoted values are interpolated (`${OTHER:-x}`), looking first at the process
  environment and then at the keys defined earlier in the same file, as compose does.

Layering (`layered_environment`): generated secrets < `.env` < process environment — the process
environment wins, as with compose.
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Mapping
from pathlib import Path

from neodev.config import inputs
from neodev.config.interpolate import Where, interpolate
from neodev.config.limits import check_string, read_config_text
from neodev.errors import ConfigError

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$$"}


def parse_env_text(text: str, *, file: str, lookup: Mapping[str, str] | None = None
                   ) -> dict[str, str]:
    """Parse the text of an env file.

    Args:
        text: File content.
        file: File name used in error messages.
        lookup: Variables visible to interpolation besides the file's own earlier keys (the
            process environment); they take precedence, as the process environment wins.

    Returns:
        KEY -> value, in file order.

    Raises:
        ConfigError: a line that is not `KEY=VALUE` (message names file:line and the line).
    """
    result: dict[str, str] = {}
    # The process environment first, then the keys so far: a view that follows `result`, not a
    # copy per line (which made a file of many keys quadratic).
    env = ChainMap(dict(lookup or {}), result)
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        lineno = index + 1
        raw = lines[index]
        index += 1
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export ") or stripped.startswith("export\t"):
            stripped = stripped[len("export"):].lstrip()
        key, sep, rest = stripped.partition("=")
        key = key.strip()
        if not sep or not _KEY.fullmatch(key):
            why = ("expected KEY=VALUE" if not sep else
                   f"{key!r} is not a valid variable name (letters, digits, '_', '.', '-'; "
                   "not starting with a digit)")
            raise ConfigError(f"{why}, got {raw.strip()!r}", file=file, line=lineno)
        rest = rest.lstrip()
        where = Where(file, key, lineno)
        if rest[:1] in ("'", '"'):
            quote = rest[0]
            body, after, index = _quoted(rest[1:], quote, lines, index, file, lineno)
            after = after.strip()
            if after and not after.startswith("#"):
                raise ConfigError(f"unexpected text {after!r} after the closing quote of "
                                  f"{key}", file=file, line=lineno)
            check_string(body, file=file, key=key, line=lineno, what="value")
            value = body if quote == "'" else interpolate(body, env, where=where)
        else:
            raw_value = re.split(r"\s#", rest, maxsplit=1)[0].strip()
            check_string(raw_value, file=file, key=key, line=lineno, what="value")
            value = interpolate(raw_value, env, where=where)
        result[key] = value
    return result


def _quoted(first: str, quote: str, lines: list[str], index: int, file: str, lineno: int
            ) -> tuple[str, str, int]:
    """Read a quoted value that may continue on the following lines."""
    chunks: list[str] = []
    text = first
    while True:
        pos = 0
        while pos < len(text):
            char = text[pos]
            if quote == '"' and char == "\\" and pos + 1 < len(text):
                nxt = text[pos + 1]
                # `\$` keeps a literal dollar: hand `$$` to the interpolation step.
                chunks.append(_ESCAPES.get(nxt, "\\" + nxt))
                pos += 2
                continue
            if char == quote:
                return "".join(chunks), text[pos + 1:], index
            chunks.append(char)
            pos += 1
        if index >= len(lines):
            raise ConfigError(f"the {quote} quote opened here is never closed", file=file,
                              line=lineno)
        chunks.append("\n")
        text = lines[index]
        index += 1


def read_env_file(path: Path, lookup: Mapping[str, str] | None = None) -> dict[str, str]:
    """Parse an env file; a missing file is an empty mapping (doctor warns about it).

    Raises:
        ConfigError: unreadable, beyond the limits of `neodev.config.limits`, or a bad line.
    """
    try:
        path.stat()
    except FileNotFoundError:
        inputs.note_text(path, None)
        return {}
    except (OSError, ValueError):
        pass  # not merely missing: read_config_text says why
    return parse_env_text(read_config_text(path, "env file"), file=str(path), lookup=lookup)


def layered_environment(environ: Mapping[str, str], env_file: Path | None,
                        secrets_file: Path | None) -> tuple[dict[str, str], set[str]]:
    """The variable environment: secrets file < env file < process environment.

    Returns:
        (merged variables, the keys that came from the two files).
    """
    secrets = read_env_file(secrets_file, environ) if secrets_file else {}
    dotenv = read_env_file(env_file, {**secrets, **environ}) if env_file else {}
    merged = {**secrets, **dotenv, **environ}
    return merged, set(secrets) | set(dotenv)

"""Bounds on what a configuration file can make neodev do, and the one reader that applies them.

Every command reads the profile, its compose files and `.env` before anything starts, so a
broken or hostile file (a YAML alias bomb, a megabyte on one line, 500 nested tables, bytes that
are not UTF-8) must end in a ConfigError naming the file and the limit, never in a hang, a
MemoryError or a traceback. The limits sit far above what a real file holds and each error
names the one that was hit, so a person who really needs more knows what to change.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from neodev.config import inputs
from neodev.errors import ConfigError

MAX_FILE_BYTES = 1024 * 1024
"""Largest profile, compose or env file read (1 MiB). The shipped compose file is about 5 KiB
and a big real one 50 KiB; beyond this, parsing alone (PyYAML is pure Python here) would take
seconds."""

MAX_DEPTH = 64
"""Deepest nesting of mappings, lists, tables and `${...}` expressions. Compose files nest about
six levels deep; the parsers recurse once per level, and this keeps them far from Python's
recursion limit."""

MAX_STRING_CHARS = 64 * 1024
"""Longest string: a key, a value, an `.env` value, or a value after interpolation (64 KiB). A
long command line or an inline certificate fits; a megabyte-long value is a mistake, and every
later step (interpolation, masking, error messages) costs time in proportion to it."""

MAX_ALIAS_NODES = 1000
"""Most nodes a YAML file may build through aliases and merge keys (`*name`, `<<: *name`),
counted each time one is built again; a string counts one node per started KiB. Twenty services
that each merge `<<: *defaults` of ten keys cost about 200. The bound refuses the "billion
laughs" shape, where a few hundred bytes of nested aliases expand into a billion nodes."""


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n // 1024} KiB"


def read_config_text(path: Path, what: str) -> str:
    """The text of a configuration file, refused when it is not a small, UTF-8 regular file.

    Args:
        path: The file.
        what: What it is, for messages ("profile", "compose file", "env file").

    Returns:
        The decoded text.

    Raises:
        ConfigError: as `read_config_bytes`, or not UTF-8 (with the line of the first bad
            byte).
    """
    data = read_config_bytes(path, what)
    inputs.note_text(path, data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the {what} is not valid UTF-8: byte 0x{data[exc.start]:02x} at "
                          f"column {_column(data, exc.start)}", file=str(path),
                          line=_line(data, exc.start)) from exc


def read_config_bytes(path: Path, what: str) -> bytes:
    """The bytes of a configuration file, refused when it is not a small regular text file.

    Raises:
        ConfigError: unreadable, not a regular file (a FIFO would block the read forever, a
            device never end), larger than MAX_FILE_BYTES, or NUL bytes.
    """
    file = str(path)
    try:
        # O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        raise ConfigError(f"cannot read {what}: {_reason(exc)}", file=file) from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(f"the {what} is not a regular file", file=file)
        data = _read_up_to(fd, MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {_reason(exc)}", file=file) from exc
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"the {what} is larger than {_size(MAX_FILE_BYTES)} (the limit for "
                          "configuration files, MAX_FILE_BYTES)", file=file)
    nul = data.find(b"\0")
    if nul != -1:
        raise ConfigError(f"the {what} contains a NUL byte (column {_column(data, nul)}): it "
                          "is not a text file", file=file, line=_line(data, nul))
    return data


def _read_up_to(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:  # each pass reads at least a byte or ends the loop
        chunk = os.read(fd, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _reason(exc: Exception) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def _line(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _column(data: bytes, offset: int) -> int:
    return offset - (data.rfind(b"\n", 0, offset) + 1) + 1


def depth_problem(depth: int) -> str | None:
    """Why a collection (or `${...}`) nested `depth` levels deep is refused, or None."""
    if depth > MAX_DEPTH:
        return f"nesting deeper than {MAX_DEPTH} levels (the limit, MAX_DEPTH)"
    return None


def length_problem(length: int, what: str = "string") -> str | None:
    """Why a string of `length` characters is refused (beyond MAX_STRING_CHARS), or None."""
    if length > MAX_STRING_CHARS:
        return (f"{what} of {length} characters is longer than {_size(MAX_STRING_CHARS)} "
                "(the limit, MAX_STRING_CHARS)")
    return None


def string_problem(value: str, what: str = "string") -> str | None:
    """Why a string is refused (longer than MAX_STRING_CHARS, or holding NUL), or None.

    NUL is refused along with the length because no later step can carry it: argv,
    environment variables and container settings all end at the first NUL.
    """
    problem = length_problem(len(value), what)
    if problem is None and "\0" in value:
        problem = (f"{what} contains a NUL character, which no command line, environment "
                   "variable or container setting can hold")
    return problem


def check_depth(depth: int, *, file: str | None, key: str | None = None,
                line: int | None = None) -> None:
    """Raise `depth_problem` as a ConfigError naming the file, line and key."""
    problem = depth_problem(depth)
    if problem:
        raise ConfigError(problem, file=file, line=line, key=key or None)


def check_string(value: str, *, file: str | None, key: str | None = None,
                 line: int | None = None, what: str = "string") -> None:
    """Raise `string_problem` as a ConfigError naming the file, line and key."""
    problem = string_problem(value, what)
    if problem:
        raise ConfigError(problem, file=file, line=line, key=key or None)

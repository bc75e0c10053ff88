"""Every look at the outside world the loader makes, done here so that it can be recorded.

A plan depends on the process environment and on what the loader finds on disk: the text of
the profile, compose and env files, whether a directory exists, where a path resolves to
through symlinks, whose home `~` is. The loader asks this module for each of those facts. While
`recording()` is active, each answer is noted as a `Fact`; `unchanged(facts)` later asks the
same questions again and tells whether every answer is still the same. That is what lets
`neodev.config.cache` reuse an answer soundly: the answer is a function of these facts and of
the environment, nothing else (`tests/unit/test_config_cache.py` checks that the loader touches
no path outside them).

File texts are compared by their SHA-256, not by mtime: an edit within the file system's
timestamp granularity would otherwise go unseen.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Literal

Kind = Literal["text", "resolve", "is_file", "is_dir", "expanduser", "cwd"]
KINDS: tuple[Kind, ...] = ("text", "resolve", "is_file", "is_dir", "expanduser", "cwd")
Fact = tuple[Kind, str, str | bool | None]
"""(what was asked, about what, the answer): the answer of a "text" fact is the SHA-256 of
the bytes read, or None when the file was missing."""


class Recording:
    """The facts noted while it is active (`recording()`)."""

    def __init__(self) -> None:
        self.notes: dict[tuple[Kind, str], str | bool | None] = {}

    @property
    def facts(self) -> list[Fact]:
        return [(kind, subject, answer) for (kind, subject), answer in self.notes.items()]


_active: ContextVar[Recording | None] = ContextVar("neodev_config_inputs", default=None)


@contextlib.contextmanager
def recording() -> Iterator[Recording]:
    """Note every fact asked for inside the block.

    A fact asked twice keeps its last answer: the secrets file is read before and after
    missing secrets are generated into it, and the plan depends on the second reading.
    """
    record = Recording()
    token = _active.set(record)
    try:
        yield record
    finally:
        _active.reset(token)


def _note(kind: Kind, subject: str, answer: str | bool | None) -> None:
    record = _active.get()
    if record is not None:
        record.notes[(kind, subject)] = answer


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def note_text(path: Path, data: bytes | None) -> None:
    """The loader read `data` from `path` (None: the file does not exist)."""
    _note("text", str(path), None if data is None else _digest(data))


def resolve(path: Path) -> Path:
    """Path.resolve: the absolute path with every symlink followed."""
    resolved = path.resolve()
    _note("resolve", str(path), str(resolved))
    return resolved


def is_file(path: Path) -> bool:
    """Path.is_file, except that a name the OS refuses (too long, NUL) is no file either."""
    answer = _test(path.is_file)
    _note("is_file", str(path), answer)
    return answer


def is_dir(path: Path) -> bool:
    """Path.is_dir, likewise."""
    answer = _test(path.is_dir)
    _note("is_dir", str(path), answer)
    return answer


def _test(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except (OSError, ValueError):
        return False


def expanduser(text: str) -> str:
    """os.path.expanduser (which leaves `~unknown-user` as it is, where Path's raises)."""
    expanded = os.path.expanduser(text)
    _note("expanduser", text, expanded)
    return expanded


def cwd() -> Path:
    """The working directory (a relative profile path is relative to it)."""
    here = Path.cwd()
    _note("cwd", "", str(here))
    return here


def _current_text(path: str) -> str | None:
    from neodev.config.limits import read_config_bytes
    from neodev.errors import ConfigError

    if not os.path.exists(path):  # as the loader's stat: a dangling symlink is missing
        return None
    try:
        return _digest(read_config_bytes(Path(path), "file"))
    except ConfigError:
        return "unreadable"  # never a recorded answer: the loader fails on such a file


def _answer(kind: Kind, subject: str) -> str | bool | None:
    """The answer to a recorded question now, asked without recording."""
    if kind == "text":
        return _current_text(subject)
    if kind == "resolve":
        return str(Path(subject).resolve())
    if kind == "is_file":
        return _test(Path(subject).is_file)
    if kind == "is_dir":
        return _test(Path(subject).is_dir)
    if kind == "expanduser":
        return os.path.expanduser(subject)
    return str(Path.cwd())


def unchanged(facts: list[Fact]) -> bool:
    """True when every fact still has its recorded answer."""
    try:
        return all(_answer(kind, subject) == answer for kind, subject, answer in facts)
    except (OSError, ValueError, RuntimeError):  # RuntimeError: a symlink loop
        return False

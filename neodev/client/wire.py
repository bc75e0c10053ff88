"""What both transports share: a request's query string, and reading an answer as its record.

Server-side errors come back as data and are raised again as the same `NeodevError` subclass
with its fields (`neodev.errors.error_from_dict`), so a ConfigError raised in the daemon reaches
the client with its file, line and key. An answer that is not the declared record is a
`DaemonError` naming the endpoint and what did not fit.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

from neodev.errors import DaemonError, error_from_dict
from neodev.protocol.codec import ProtocolError
from neodev.protocol.endpoints import Request
from neodev.protocol.events import Event

R = TypeVar("R")


@dataclass(frozen=True)
class Connection:
    """A follower's connection changed: yielded between events so a UI can say so."""

    connected: bool
    detail: str = ""


class AsyncClient(Protocol):
    """What an asyncio client of the daemon offers (the dashboard reads through this): the
    socket's `AsyncDaemonClient`, or the report viewer's recorded answers."""

    async def call(self, request: Request[R]) -> R: ...

    def stream(self, request: Request[R]) -> AsyncIterator[R]: ...

    def follow_events(self, *, units: list[str] | None = None,
                      types: list[str] | None = None) -> AsyncIterator[Event | Connection]: ...

    async def aclose(self) -> None: ...


def query_string(query: dict[str, Any]) -> str:
    """`?a=1&unit=x&unit=y` (lists repeat the key, booleans are true/false)."""
    if not query:
        return ""
    flat = {k: ("true" if v else "false") if isinstance(v, bool) else v
            for k, v in query.items()}
    return "?" + urlencode(flat, doseq=True)


def body_bytes(request: Request[Any]) -> bytes:
    return b"" if request.body is None else json.dumps(request.body).encode()


def read_answer(request: Request[R], status: int, body: bytes) -> R:
    """The answer's record, or the error it carries raised as its NeodevError."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise DaemonError(f"the daemon answered {status} with a body that is not JSON: "
                          f"{body[:200]!r}") from exc
    if status >= 400:
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            raise error_from_dict(data["error"])
        raise DaemonError(f"the daemon answered {status}: {data}")
    return _read(request, data)


def read_item(request: Request[R], line: bytes | str) -> R:
    """One item of an NDJSON stream."""
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise DaemonError(f"the daemon streamed a line that is not JSON: {line[:200]!r}"
                          ) from exc
    return _read(request, data)


def _read(request: Request[R], data: Any) -> R:
    try:
        return request.endpoint.read(data)
    except ProtocolError as exc:
        raise DaemonError(f"the daemon's answer to {request.method} {request.path} is not "
                          f"what this client reads: {exc}") from exc

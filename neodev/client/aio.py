"""The asyncio client (the dashboard's, the agent server's): httpx over the Unix socket.

It executes the same `Request`s as the synchronous client (`neodev.client.calls`) and reads
the same records. `follow_events` reconnects by itself: when the daemon goes away it says so
(`Connection`), retries, and resumes from the last sequence number (a restarted daemon answers
with a resync and a fresh snapshot).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

import httpx

from neodev.client import calls
from neodev.client.wire import Connection, body_bytes, read_answer, read_item
from neodev.errors import DaemonError
from neodev.protocol.endpoints import Request
from neodev.protocol.events import Event, Snapshot
from neodev.timing import Backoff

R = TypeVar("R")
RECONNECT = Backoff(0.2, 2.0)
"""Pauses between reconnection attempts of a follower."""


class AsyncDaemonClient:
    """asyncio client, with an event follower that reconnects by itself.

    Args:
        socket: The daemon's control socket.
        transport: Another transport (the in-process API tests use httpx's ASGI transport).
    """

    def __init__(self, socket: Path, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.socket = socket
        self._http = httpx.AsyncClient(
            transport=transport or httpx.AsyncHTTPTransport(uds=str(socket)),
            base_url="http://neodev", trust_env=False)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncDaemonClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def call(self, request: Request[R]) -> R:
        """Send `request`; its answer as the endpoint's record.

        Raises:
            NeodevError: the error the daemon answered with (its own class and fields).
            DaemonError: the daemon cannot be reached, or answered something else.
        """
        try:
            response = await self._http.request(
                request.method, request.path, params=_params(request),
                content=body_bytes(request) if request.body is not None else None,
                headers=_headers(request), timeout=request.timeout)
        except httpx.TransportError as exc:
            raise DaemonError(f"cannot reach the daemon at {self.socket}: {exc}") from exc
        return read_answer(request, response.status_code, response.content)

    async def stream(self, request: Request[R]) -> AsyncIterator[R]:
        """The items of a streaming endpoint as they come (one connection, no reconnect)."""
        try:
            async with self._http.stream(request.method, request.path, params=_params(request),
                                         timeout=None) as response:
                if response.status_code >= 400:
                    await response.aread()
                    read_answer(request, response.status_code, response.content)
                async for line in response.aiter_lines():
                    if line:
                        yield read_item(request, line)
        except httpx.TransportError as exc:
            raise DaemonError(f"lost the daemon at {self.socket}: {exc}") from exc

    async def follow_events(self, *, units: list[str] | None = None,
                            types: list[str] | None = None) -> AsyncIterator[Event | Connection]:
        """Events forever: reconnects when the daemon goes away, resuming from the last `seq`
        of the same daemon instance (a new instance starts with a resync and a snapshot)."""
        since: int | None = None
        instance: str | None = None
        attempts = 0
        connected = False
        while True:
            try:
                async for event in self.stream(calls.events(since=since, instance=instance,
                                                            units=units, types=types)):
                    if not connected:
                        connected, attempts = True, 0
                        yield Connection(True)
                    if isinstance(event, Snapshot):
                        instance = event.instance
                    since = event.seq
                    yield event
                detail = "the daemon closed the stream"
            except DaemonError as exc:
                detail = exc.message
            if connected:
                connected = False
                yield Connection(False, detail)
            await asyncio.sleep(RECONNECT.delay(attempts))
            attempts += 1


def _params(request: Request[Any]) -> dict[str, Any]:
    """Query parameters as httpx sends them (booleans as true/false, lists repeated)."""
    return {k: ("true" if v else "false") if isinstance(v, bool) else v
            for k, v in request.query.items()}


def _headers(request: Request[Any]) -> dict[str, str]:
    return {"content-type": "application/json"} if request.body is not None else {}

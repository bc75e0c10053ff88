"""The dashboard's client of the daemon: httpx's asyncio client over the Unix socket.

Same requests and records as the CLI's `client.py`; its followers reconnect by themselves:
when the daemon goes away they say so (`Connection`), retry, and resume from the last sequence
number (a restarted daemon answers with a resync and a fresh snapshot).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from neodev.daemon.client import REQUEST_TIMEOUT, Connection, decode, event_params, log_params
from neodev.errors import DaemonError
from neodev.protocol import Event, Snapshot, event_from_dict

RECONNECT = (0.2, 2.0)
"""First and longest pause between reconnection attempts of a follower."""


class AsyncDaemonClient:
    """asyncio API client (the dashboard), with followers that reconnect by themselves.

    Args:
        socket: The daemon's control socket.
        transport: Another transport (the in-process API tests use httpx's ASGI transport).
    """

    def __init__(self, socket: Path, timeout: float = REQUEST_TIMEOUT,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.socket = socket
        self._http = httpx.AsyncClient(
            transport=transport or httpx.AsyncHTTPTransport(uds=str(socket)),
            base_url="http://neodev", timeout=timeout, trust_env=False)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncDaemonClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def ping(self) -> dict[str, Any]:
        return await self._call("GET", "/v1/ping")

    async def status(self) -> dict[str, Any]:
        return await self._call("GET", "/v1/status")

    async def start(self, units: list[str] | None) -> dict[str, Any]:
        return await self._call("POST", "/v1/start", json={"units": units or None})

    async def stop(self, units: list[str] | None) -> dict[str, Any]:
        return await self._call("POST", "/v1/stop", json={"units": units or None},
                                timeout=None)

    async def act(self, unit: str, action: str) -> dict[str, Any]:
        return await self._call("POST", f"/v1/units/{unit}/{action}", timeout=None)

    async def unit(self, unit: str) -> dict[str, Any]:
        return await self._call("GET", f"/v1/units/{unit}")

    async def connection(self, unit: str) -> dict[str, Any]:
        return await self._call("GET", f"/v1/units/{unit}/connection")

    async def down(self, volumes: bool) -> dict[str, Any]:
        return await self._call("POST", "/v1/down", json={"volumes": volumes}, timeout=None)

    async def shutdown(self) -> dict[str, Any]:
        return await self._call("POST", "/v1/shutdown", timeout=None)

    async def logs(self, units: list[str] | None = None, **query: Any) -> dict[str, Any]:
        streams, levels = query.pop("streams", None), query.pop("levels", None)
        return await self._call("GET", "/v1/logs",
                                params=log_params(units, streams, levels, **query))

    async def events(self, *, since: int | None = None, instance: str | None = None,
                     units: list[str] | None = None, types: list[str] | None = None,
                     follow: bool = True) -> AsyncIterator[Event]:
        """One connection's events (no reconnect): for tests and one-shot readers."""
        async for data in self._stream("/v1/events",
                                       event_params(since, instance, units, types, follow)):
            yield event_from_dict(data)

    async def follow_events(self, *, units: list[str] | None = None,
                            types: list[str] | None = None) -> AsyncIterator[Event | Connection]:
        """Events forever: reconnects when the daemon goes away, resuming from the last `seq`
        of the same daemon instance (a new instance starts with a resync and a snapshot)."""
        since: int | None = None
        instance: str | None = None
        pause = RECONNECT[0]
        connected = False
        while True:
            try:
                async for event in self.events(since=since, instance=instance, units=units,
                                               types=types):
                    if not connected:
                        connected, pause = True, RECONNECT[0]
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
            await asyncio.sleep(pause)
            pause = min(pause * 2, RECONNECT[1])

    async def follow_logs(self, units: list[str] | None, *, n: int = 0,
                          after: int | None = None) -> AsyncIterator[dict[str, Any]]:
        """Lines as they come (no reconnect: the dashboard restarts it with `after`)."""
        async for item in self._stream("/v1/logs/follow",
                                       log_params(units, n=n, after=after)):
            yield item

    async def _call(self, method: str, path: str, *, json: Any = None,
                    params: dict[str, Any] | None = None,
                    timeout: float | None = REQUEST_TIMEOUT) -> dict[str, Any]:
        try:
            response = await self._http.request(method, path, json=json, params=params,
                                                timeout=timeout)
        except httpx.TransportError as exc:
            raise DaemonError(f"cannot reach the daemon at {self.socket}: {exc}") from exc
        return decode(response.status_code, response.content)

    async def _stream(self, path: str, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        try:
            async with self._http.stream("GET", path, params=params, timeout=None) as response:
                if response.status_code >= 400:
                    await response.aread()
                    decode(response.status_code, response.content)
                async for line in response.aiter_lines():
                    if line:
                        yield json.loads(line)
        except httpx.TransportError as exc:
            raise DaemonError(f"lost the daemon at {self.socket}: {exc}") from exc


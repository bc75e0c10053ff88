"""The client of the daemon's API: httpx over the workspace's Unix socket.

The CLI and the dashboard talk to units only through this client. Server-side errors come back
as data (`{"error": {...}}`) and are turned back into the same NeodevError subclasses here, so a
ConfigError raised in the daemon reaches the CLI with its title, message and exit code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from neodev import errors
from neodev.errors import DaemonError, NeodevError

REQUEST_TIMEOUT = 30.0


def error_from_dict(data: dict[str, Any]) -> NeodevError:
    """Rebuild a NeodevError from its `to_dict()` form."""
    cls = getattr(errors, str(data.get("type", "")), None)
    if not (isinstance(cls, type) and issubclass(cls, NeodevError)):
        cls = NeodevError
    error = cls.__new__(cls)
    NeodevError.__init__(error, str(data.get("message", "")), title=str(data.get("title", "")))
    error.exit_code = int(data.get("exit_code", 1))
    return error


class DaemonClient:
    """Synchronous API client (the CLI is synchronous; the TUI runs it in thread workers)."""

    def __init__(self, socket: Path, timeout: float = REQUEST_TIMEOUT) -> None:
        self.socket = socket
        self._http = httpx.Client(transport=httpx.HTTPTransport(uds=str(socket)),
                                  base_url="http://neodev", timeout=timeout, trust_env=False)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DaemonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls ----------------------------------------------------------------------------

    def ping(self) -> dict[str, Any]:
        return self._call("GET", "/v1/ping")

    def status(self) -> dict[str, Any]:
        return self._call("GET", "/v1/status")

    def start(self, units: list[str] | None) -> dict[str, Any]:
        return self._call("POST", "/v1/start", json={"units": units or None})

    def wait(self, units: list[str] | None, timeout: float) -> dict[str, Any]:
        return self._call("POST", "/v1/wait", json={"units": units or None, "timeout": timeout},
                          timeout=timeout + 30)

    def stop(self, units: list[str] | None) -> dict[str, Any]:
        return self._call("POST", "/v1/stop", json={"units": units or None}, timeout=None)

    def restart(self, unit: str) -> dict[str, Any]:
        return self._call("POST", f"/v1/units/{unit}/restart", timeout=None)

    def down(self, volumes: bool) -> dict[str, Any]:
        return self._call("POST", "/v1/down", json={"volumes": volumes}, timeout=None)

    def shutdown(self) -> dict[str, Any]:
        return self._call("POST", "/v1/shutdown", timeout=None)

    def cluster(self, action: str, profile: str) -> Iterator[dict[str, Any]]:
        """Progress dicts of a cluster operation, then a `report` or `error` dict."""
        yield from self._stream(f"/v1/cluster/{action}", {"profile": profile}, method="POST")

    def logs(self, units: list[str] | None, *, tail: int | None, since: float | None,
             follow: bool) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {"follow": follow}
        if units:
            params["unit"] = units
        if tail is not None:
            params["n"] = tail
        if since is not None:
            params["since"] = since
        yield from self._stream("/v1/logs", params)

    def events(self) -> Iterator[dict[str, Any]]:
        yield from self._stream("/v1/events", {})

    # -- plumbing -------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, json: Any = None,
              timeout: float | None = REQUEST_TIMEOUT) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, json=json, timeout=timeout)
        except httpx.TransportError as exc:
            raise DaemonError(f"cannot reach the daemon at {self.socket}: {exc}") from exc
        return _decode(response)

    def _stream(self, path: str, params: dict[str, Any], method: str = "GET"
                ) -> Iterator[dict[str, Any]]:
        try:
            with self._http.stream(method, path, params=params, timeout=None) as response:
                if response.status_code >= 400:
                    response.read()
                    _decode(response)
                for line in response.iter_lines():
                    if line:
                        yield json.loads(line)
        except httpx.TransportError as exc:
            raise DaemonError(f"lost the daemon at {self.socket}: {exc}") from exc


def _decode(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise DaemonError(f"the daemon answered {response.status_code} with a body that is not "
                          f"JSON: {response.text[:200]!r}") from exc
    if response.status_code >= 400:
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            raise error_from_dict(body["error"])
        raise DaemonError(f"the daemon answered {response.status_code}: {body}")
    return body

"""The CLI's client of the daemon: HTTP over the workspace's Unix socket, standard library only.

The short commands (`status`, `logs -n`, `stop`...) must start in well under a tenth of a
second, so this client speaks the little HTTP/1.1 it needs over a plain socket (importing
httpx costs over 100 ms, even `http.client` pulls in the email package); the dashboard's
asyncio client lives in `aclient.py`. One request per connection (`Connection: close`); an
answer has a Content-Length or is chunked (the streams). Both build the same requests and
read the same records (`neodev.protocol`). Server-side errors come back as data and are turned
back into the same NeodevError subclasses with their fields (`neodev.errors.error_from_dict`),
so a ConfigError raised in the daemon reaches the CLI with its file, line and key.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from neodev.errors import DaemonError, error_from_dict

if TYPE_CHECKING:
    from neodev.protocol import Event

REQUEST_TIMEOUT = 30.0

__all__ = ["Connection", "DaemonClient", "decode", "error_from_dict", "event_params",
           "log_params"]


@dataclass(frozen=True)
class Connection:
    """A follower's connection changed: yielded between events so a UI can say so."""

    connected: bool
    detail: str = ""


def log_params(units: list[str] | None, streams: list[str] | None = None,
               levels: list[str] | None = None, **more: Any) -> dict[str, Any]:
    params: dict[str, Any] = {k: v for k, v in more.items() if v is not None}
    if units:
        params["unit"] = units
    if streams:
        params["stream"] = streams
    if levels:
        params["level"] = levels
    return params


def event_params(since: int | None, instance: str | None, units: list[str] | None,
                 types: list[str] | None, follow: bool) -> dict[str, Any]:
    params: dict[str, Any] = {"follow": follow}
    if since is not None:
        params["since"] = since
    if instance:
        params["instance"] = instance
    if units:
        params["unit"] = units
    if types:
        params["type"] = types
    return params


def query_string(params: dict[str, Any] | None) -> str:
    """`?a=1&unit=x&unit=y` (lists repeat the key, booleans are true/false)."""
    if not params:
        return ""
    flat = {k: ("true" if v else "false") if isinstance(v, bool) else v
            for k, v in params.items()}
    return "?" + urlencode(flat, doseq=True)


def decode(status: int, body: bytes) -> dict[str, Any]:
    """The JSON object of an answer, or the error it carries raised as its NeodevError."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise DaemonError(f"the daemon answered {status} with a body that is not JSON: "
                          f"{body[:200]!r}") from exc
    if status >= 400:
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            raise error_from_dict(data["error"])
        raise DaemonError(f"the daemon answered {status}: {data}")
    if not isinstance(data, dict):
        raise DaemonError(f"the daemon answered with {type(data).__name__}, not an object")
    return data


class _Answer:
    """One HTTP/1.1 answer read from a Unix socket: status, headers, then the body."""

    def __init__(self, sock: socket.socket) -> None:
        self._file = sock.makefile("rb")
        line = self._file.readline(MAX_HEAD)
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise DaemonError(f"the daemon answered something that is not HTTP: {line[:80]!r}")
        self.status = int(parts[1])
        self.headers: dict[str, str] = {}
        while True:
            header = self._file.readline(MAX_HEAD)
            if header in (b"\r\n", b"\n", b""):
                break
            name, _, value = header.decode("latin-1").partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()

    def read(self) -> bytes:
        if self.chunked:
            return b"".join(self._chunks())
        length = self.headers.get("content-length")
        return self._file.read(int(length)) if length is not None else self._file.read()

    def lines(self) -> Iterator[bytes]:
        """The body's lines as they arrive (NDJSON streams are chunked)."""
        pending = b""
        for chunk in (self._chunks() if self.chunked else iter([self.read()])):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            yield from complete
        if pending:
            yield pending

    def _chunks(self) -> Iterator[bytes]:
        while True:
            size_line = self._file.readline(MAX_HEAD)
            if not size_line:
                return  # the connection ended (the daemon went away)
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                return
            data = self._file.read(size)
            self._file.readline(MAX_HEAD)  # the CRLF after the chunk
            yield data

    def close(self) -> None:
        self._file.close()


MAX_HEAD = 64 * 1024
"""Longest status or header line accepted (and chunk-size line)."""


class DaemonClient:
    """Synchronous API client (the CLI): one connection per request, closed after it."""

    def __init__(self, socket_path: Path, timeout: float = REQUEST_TIMEOUT) -> None:
        self.socket = socket_path
        self._timeout = timeout

    def close(self) -> None:
        """Nothing stays open between requests."""

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
        return self._call("POST", "/v1/start", body={"units": units or None})

    def wait(self, units: list[str] | None, timeout: float) -> dict[str, Any]:
        return self._call("POST", "/v1/wait", body={"units": units or None, "timeout": timeout},
                          timeout=timeout + 30)

    def stop(self, units: list[str] | None) -> dict[str, Any]:
        return self._call("POST", "/v1/stop", body={"units": units or None}, timeout=None)

    def act(self, unit: str, action: str) -> dict[str, Any]:
        """start | stop | restart | reload one unit; returns {"unit": record}."""
        return self._call("POST", f"/v1/units/{unit}/{action}", timeout=None)

    def unit(self, unit: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/units/{unit}")

    def down(self, volumes: bool) -> dict[str, Any]:
        return self._call("POST", "/v1/down", body={"volumes": volumes}, timeout=None)

    def shutdown(self) -> dict[str, Any]:
        return self._call("POST", "/v1/shutdown", timeout=None)

    def snapshots(self, service: str | None = None) -> dict[str, Any]:
        return self._call("GET", "/v1/db/snapshots", params=_service(service))

    def take_snapshot(self, name: str, service: str | None, force: bool) -> dict[str, Any]:
        return self._call("POST", "/v1/db/snapshots", timeout=None,
                          body={"name": name, "service": service, "force": force})

    def restore_snapshot(self, name: str, service: str | None, force: bool) -> dict[str, Any]:
        return self._call("POST", f"{_snapshot_path(name)}/restore", timeout=None,
                          body={"service": service, "force": force})

    def drop_snapshot(self, name: str, service: str | None) -> dict[str, Any]:
        return self._call("DELETE", _snapshot_path(name), params=_service(service),
                          timeout=None)

    def logs(self, units: list[str] | None = None, **query: Any) -> dict[str, Any]:
        """A page of retained lines: before/after/limit/since/q/regex/case/streams/levels."""
        streams, levels = query.pop("streams", None), query.pop("levels", None)
        return self._call("GET", "/v1/logs", params=log_params(units, streams, levels, **query))

    def follow_logs(self, units: list[str] | None, *, n: int = 0, since: float | None = None,
                    after: int | None = None) -> Iterator[dict[str, Any]]:
        """Lines as they come: the last `n` (or after `after`), then live."""
        yield from self._stream("/v1/logs/follow",
                                log_params(units, n=n, since=since, after=after))

    def events(self, *, since: int | None = None, instance: str | None = None,
               units: list[str] | None = None, types: list[str] | None = None,
               follow: bool = True) -> Iterator[Event]:
        from neodev.protocol import event_from_dict  # only followers of events need it

        for data in self._stream("/v1/events", event_params(since, instance, units, types,
                                                            follow)):
            yield event_from_dict(data)

    def wiring(self) -> dict[str, Any]:
        return self._call("GET", "/v1/wiring", timeout=60)

    def submit_job(self, action: str, profile: str) -> dict[str, Any]:
        return self._call("POST", "/v1/jobs", body={"kind": "cluster", "action": action,
                                                   "profile": profile})

    def follow_job(self, job_id: str) -> Iterator[dict[str, Any]]:
        yield from self._stream(f"/v1/jobs/{job_id}/follow", {})

    # -- plumbing -------------------------------------------------------------------------

    def _send(self, method: str, path: str, body: Any, params: dict[str, Any] | None,
              timeout: float | None) -> tuple[socket.socket, _Answer]:
        payload = b"" if body is None else json.dumps(body).encode()
        head = (f"{method} {path}{query_string(params)} HTTP/1.1\r\nHost: neodev\r\n"
                f"Connection: close\r\nContent-Length: {len(payload)}\r\n")
        if body is not None:
            head += "Content-Type: application/json\r\n"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(self.socket))
            sock.sendall(head.encode() + b"\r\n" + payload)
            return sock, _Answer(sock)
        except OSError as exc:
            sock.close()
            raise DaemonError(f"cannot reach the daemon at {self.socket}: {exc}") from exc

    def _call(self, method: str, path: str, *, body: Any = None,
              params: dict[str, Any] | None = None,
              timeout: float | None = REQUEST_TIMEOUT) -> dict[str, Any]:
        sock, answer = self._send(method, path, body, params, timeout)
        try:
            data = answer.read()
        except OSError as exc:
            raise DaemonError(f"lost the daemon at {self.socket}: {exc}") from exc
        finally:
            answer.close()
            sock.close()
        return decode(answer.status, data)

    def _stream(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        sock, answer = self._send("GET", path, None, params, None)
        try:
            if answer.status >= 400:
                decode(answer.status, answer.read())
            for line in answer.lines():
                if line.strip():
                    yield json.loads(line)
        except OSError as exc:
            raise DaemonError(f"lost the daemon at {self.socket}: {exc}") from exc
        finally:
            answer.close()
            sock.close()


def _service(service: str | None) -> dict[str, Any]:
    return {"service": service} if service else {}


def _snapshot_path(name: str) -> str:
    return f"/v1/db/snapshots/{quote(name, safe='')}"

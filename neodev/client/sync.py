"""The synchronous client (the CLI's): HTTP over the workspace's Unix socket, stdlib only.

The short commands (`status`, `logs -n`, `stop`...) must start in well under a tenth of a
second, so this client speaks the little HTTP/1.1 it needs over a plain socket (importing
httpx costs over 100 ms, even `http.client` pulls in the email package); the asyncio client
is `neodev.client.aio`. One request per connection (`Connection: close`); an answer has a
Content-Length or is chunked (the streams). Both transports execute the same `Request`s
(`neodev.client.calls`) and read the same records.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from neodev.client.wire import body_bytes, query_string, read_answer, read_item
from neodev.errors import DaemonError
from neodev.protocol.endpoints import Request

R = TypeVar("R")
MAX_HEAD = 64 * 1024
"""Longest status or header line accepted (and chunk-size line)."""


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


class DaemonClient:
    """Synchronous client: one connection per request, closed after it."""

    def __init__(self, socket_path: Path) -> None:
        self.socket = socket_path

    def close(self) -> None:
        """Nothing stays open between requests."""

    def __enter__(self) -> DaemonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, request: Request[R]) -> R:
        """Send `request`; its answer as the endpoint's record.

        Raises:
            NeodevError: the error the daemon answered with (its own class and fields).
            DaemonError: the daemon cannot be reached, or answered something else.
        """
        sock, answer = self._send(request)
        try:
            data = answer.read()
        except OSError as exc:
            raise DaemonError(f"lost the daemon at {self.socket}: {exc}") from exc
        finally:
            answer.close()
            sock.close()
        return read_answer(request, answer.status, data)

    def stream(self, request: Request[R]) -> Iterator[R]:
        """The items of a streaming endpoint as they come."""
        sock, answer = self._send(request)
        try:
            if answer.status >= 400:
                read_answer(request, answer.status, answer.read())
            for line in answer.lines():
                if line.strip():
                    yield read_item(request, line)
        except OSError as exc:
            raise DaemonError(f"lost the daemon at {self.socket}: {exc}") from exc
        finally:
            answer.close()
            sock.close()

    def _send(self, request: Request[Any]) -> tuple[socket.socket, _Answer]:
        payload = body_bytes(request)
        head = (f"{request.method} {request.path}{query_string(request.query)} HTTP/1.1\r\n"
                f"Host: neodev\r\nConnection: close\r\nContent-Length: {len(payload)}\r\n")
        if request.body is not None:
            head += "Content-Type: application/json\r\n"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(request.timeout)
        try:
            sock.connect(str(self.socket))
            sock.sendall(head.encode() + b"\r\n" + payload)
            return sock, _Answer(sock)
        except OSError as exc:
            sock.close()
            raise DaemonError(f"cannot reach the daemon at {self.socket}: {exc}") from exc

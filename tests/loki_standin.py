"""A STAND-IN for Loki's push API: a small stdlib HTTP server on 127.0.0.1, NOT Loki.

Loki cannot run on this machine, so the shipper is tested against this receiver. It checks
every request against Loki's documented JSON push format (reference §9) and records what it
got; a request that breaks the format gets a 400 and is listed in `violations`, so a test
fails when the shipper sends something Loki would refuse. Its answers are scripted: a queue of
one-off answers (`script`), then `default_status` (204 = accepted, 500 = "down"); `hang` makes
it accept requests without answering (until released); `stop()`/`start()` make the port refuse
connections and come back on the same port.

Format checked: POST /loki/api/v1/push, `Content-Type: application/json`, a body
`{"streams": [{"stream": {label: value}, "values": [[ns, line] | [ns, line, {k: v}]]}]}` with
string labels (at most 15, Prometheus label names), timestamps strings of digits, string lines,
and flat string->string structured metadata.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_LABELS = 15
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_NS = re.compile(r"[0-9]+")
HANG_LIMIT = 10.0
"""Seconds a hanging request is held at most (every wait in a test is bounded)."""


@dataclass
class Push:
    """One push request as received."""

    status: int
    """What the stand-in answered."""
    body: bytes
    streams: list[dict[str, Any]] = field(default_factory=list)

    @property
    def values(self) -> list[list[Any]]:
        return [v for s in self.streams for v in s["values"]]

    @property
    def lines(self) -> list[str]:
        return [v[1] for v in self.values]


def push_format_problems(content_type: str | None, body: bytes) -> list[str]:
    """Everything in one request that Loki's JSON push format does not allow."""
    problems: list[str] = []
    if (content_type or "").split(";")[0].strip() != "application/json":
        problems.append(f"Content-Type {content_type!r} is not application/json")
    try:
        payload = json.loads(body)
    except ValueError as exc:
        return [*problems, f"body is not JSON: {exc}"]
    if not isinstance(payload, dict) or set(payload) != {"streams"}:
        return [*problems, "body must be an object with only `streams`"]
    streams = payload["streams"]
    if not isinstance(streams, list) or not streams:
        return [*problems, "`streams` must be a non-empty list"]
    for i, stream in enumerate(streams):
        if not isinstance(stream, dict) or set(stream) != {"stream", "values"}:
            problems.append(f"streams[{i}] must have exactly `stream` and `values`")
            continue
        labels = stream["stream"]
        if not isinstance(labels, dict) or not labels:
            problems.append(f"streams[{i}].stream must be a non-empty label map")
        else:
            if len(labels) > MAX_LABELS:
                problems.append(f"streams[{i}] has {len(labels)} labels (max {MAX_LABELS})")
            for k, v in labels.items():
                if not _LABEL_NAME.fullmatch(k) or not isinstance(v, str):
                    problems.append(f"streams[{i}].stream: bad label {k!r}={v!r}")
        values = stream["values"]
        if not isinstance(values, list) or not values:
            problems.append(f"streams[{i}].values must be a non-empty list")
            continue
        for j, value in enumerate(values):
            where = f"streams[{i}].values[{j}]"
            if not isinstance(value, list) or len(value) not in (2, 3):
                problems.append(f"{where} must be [ts, line] or [ts, line, metadata]")
                continue
            if not isinstance(value[0], str) or not _NS.fullmatch(value[0]):
                problems.append(f"{where}: timestamp {value[0]!r} is not a string of digits")
            if not isinstance(value[1], str):
                problems.append(f"{where}: line {value[1]!r} is not a string")
            if len(value) == 3 and not (isinstance(value[2], dict) and all(
                    isinstance(k, str) and isinstance(v, str) for k, v in value[2].items())):
                problems.append(f"{where}: metadata {value[2]!r} is not string->string")
    return problems


class LokiStandIn:
    """The stand-in receiver (see the module docstring). Use as a context manager."""

    def __init__(self) -> None:
        self.pushes: list[Push] = []
        self.violations: list[str] = []
        self.script: deque[tuple[int, str]] = deque()
        self.default_status = 204
        self.ready_status = 200
        self.hang = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()
        self.received = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LokiStandIn:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listener: connections are refused until `start()` (same port)."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._release.clear()

    def __enter__(self) -> LokiStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for(self, predicate: Any, timeout: float = 5.0) -> None:
        """Block until `predicate(pushes)` is true; fail after `timeout` seconds."""
        with self.received:
            if not self.received.wait_for(lambda: predicate(self.pushes), timeout=timeout):
                raise AssertionError(f"stand-in: condition not met within {timeout}s; got "
                                     f"{[len(p.values) for p in self.pushes]} lines per push")

    def _answer(self, content_type: str | None, body: bytes) -> tuple[int, str]:
        problems = push_format_problems(content_type, body)
        with self._lock:
            if problems:
                self.violations += problems
                status, text = 400, "; ".join(problems)
            elif self.script:
                status, text = self.script.popleft()
            else:
                status, text = self.default_status, ""
            push = Push(status=status, body=body)
            if not problems:
                push.streams = json.loads(body)["streams"]
            self.pushes.append(push)
            self.received.notify_all()
        return status, text

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as httpx uses it

            def do_GET(self) -> None:
                if self.path == "/ready":
                    ready = standin.ready_status == 200
                    self._reply(standin.ready_status, "ready" if ready else
                                "Ingester not ready: waiting for 15s after being ready")
                else:
                    self._reply(404, "not found")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/loki/api/v1/push":
                    self._reply(404, "not found")
                    return
                if standin.hang.is_set():
                    standin._release.wait(HANG_LIMIT)
                status, text = standin._answer(self.headers.get("Content-Type"), body)
                self._reply(status, text)

            def _reply(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if data:
                    self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

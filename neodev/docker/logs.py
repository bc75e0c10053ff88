"""Follow a container's output on a thread of its own and hand it on line by line.

The docker SDK streams byte chunks, not lines (reference §2), so they are buffered and split.
With `timestamps=True` every line starts with an RFC3339Nano time and a space; that time is
parsed and passed on. The stream holds a client of its own for as long as it runs, and is ended
with `stream.close()` from another thread. Lines reach the sink on the event loop (through
`call_soon_threadsafe`), so sinks never run on this thread.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import deque
from datetime import datetime

from docker.types.daemon import CancellableStream

from neodev.docker.client import ClientFactory, post_to_loop
from neodev.engine.runner import LogSink
from neodev.errors import DockerError

STDOUT = "stdout"
SYSTEM = "neodev"
"""Stream name of the lines neodev itself adds (pull progress, a lost log stream)."""

_TIMESTAMP = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d) ")


def split_timestamp(line: str) -> tuple[float | None, str]:
    """Split Docker's RFC3339Nano prefix off a log line.

    Args:
        line: "2026-11-26T10:00:00.123456789Z text".

    Returns:
        (epoch seconds, text); (None, line) when there is no prefix.
    """
    m = _TIMESTAMP.match(line)
    if not m:
        return None, line
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    # datetime keeps microseconds only: parse whole seconds, add the fraction as a float.
    whole = datetime.fromisoformat(m.group(1) + zone).timestamp()
    frac = float(m.group(2)) if m.group(2) else 0.0
    return whole + frac, line[m.end():]


class LogFollower:
    """One follow stream of a container's merged stdout/stderr.

    Args:
        clients: where to get the stream's own client.
        container_id: the container to follow.
        sink: receives (line, "stdout", timestamp) on the event loop.
        loop: the event loop the sink belongs to.
        since: epoch seconds of the first line wanted (None = all).
        recent: a bounded deque the lines are also appended to (for error reports).
    """

    def __init__(self, clients: ClientFactory, container_id: str, sink: LogSink,
                 loop: asyncio.AbstractEventLoop, since: float | None,
                 recent: deque[str]) -> None:
        self._clients = clients
        self._container_id = container_id
        self._sink = sink
        self._loop = loop
        self._since = since
        self._recent = recent
        self._lock = threading.Lock()
        self._stream: CancellableStream | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"neodev-logs-{container_id[:12]}")

    def start(self) -> None:
        self._thread.start()

    def stop(self, join_timeout: float = 2.0) -> None:
        """Close the stream and wait (bounded) for the thread to end. Blocking; idempotent."""
        with self._lock:
            self._stopping = True
            stream = self._stream
        if stream is not None:
            stream.close()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(join_timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _emit(self, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace").rstrip("\r")
        ts, line = split_timestamp(text)
        self._recent.append(line)
        post_to_loop(self._loop, self._sink, line, STDOUT, ts if ts is not None else time.time())

    def _run(self) -> None:
        try:
            client = self._clients.fresh()
        except DockerError as e:
            post_to_loop(self._loop, self._sink, f"log stream not started: {e.message}", SYSTEM,
                  time.time())
            return
        try:
            self._follow(client)
        except Exception as e:  # the thread's top level: report, never die silently
            with self._lock:
                stopping = self._stopping
            if not stopping:
                post_to_loop(self._loop, self._sink, f"log stream lost: {e}", SYSTEM, time.time())
        finally:
            client.close()

    def _follow(self, client: object) -> None:
        stream = client.api.logs(  # type: ignore[attr-defined]
            self._container_id, stdout=True, stderr=True, stream=True, follow=True,
            timestamps=True, since=self._since)
        with self._lock:
            self._stream = stream
            if self._stopping:  # stop() ran before the stream existed
                stream.close()
                return
        buf = b""
        for chunk in stream:
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                self._emit(raw)
        if buf:
            self._emit(buf)

"""Follow a container's output on a thread of its own and hand it on line by line.

The docker SDK streams byte chunks, not lines (reference §2): they go through the engine's
`LineSplitter` (the same one the process driver uses), so a huge line is bounded here too.
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
from datetime import datetime

from docker import DockerClient
from docker.errors import NotFound
from docker.types.daemon import CancellableStream

from neodev.docker.client import ClientFactory, post_to_loop
from neodev.engine.lines import MARKER_ROOM, MAX_LINE_CHARS, LineSplitter
from neodev.engine.runner import LogSink
from neodev.errors import DockerError
from neodev.timing import Backoff

STDOUT = "stdout"
SYSTEM = "neodev"
"""Stream name of the lines neodev itself adds (pull progress, a lost log stream)."""

RETRY = Backoff(first=0.5, cap=5.0)
"""Pauses between attempts to re-open a stream the engine dropped."""

TIMESTAMP_CHARS = 36
"""Room for Docker's RFC3339Nano prefix in front of a line."""
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
    """

    def __init__(self, clients: ClientFactory, container_id: str, sink: LogSink,
                 loop: asyncio.AbstractEventLoop, since: float | None) -> None:
        self._clients = clients
        self._container_id = container_id
        self._sink = sink
        self._loop = loop
        self._since = since
        self._lock = threading.Lock()
        self._stream: CancellableStream | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"neodev-logs-{container_id[:12]}")

    def start(self) -> None:
        self._thread.start()

    def stop(self, join_timeout: float = 2.0) -> None:
        """Close the stream and wait (bounded) for the thread to end. Blocking; idempotent."""
        with self._lock:
            self._stopping.set()
            stream = self._stream
        if stream is not None:
            stream.close()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(join_timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _say(self, text: str) -> None:
        post_to_loop(self._loop, self._sink, text, SYSTEM, time.time())

    def _emit(self, text: str) -> None:
        ts, line = split_timestamp(text)
        if ts is not None:
            # Resume after this line if the stream breaks (Docker's `since` is inclusive).
            self._since = ts + 1e-6
        post_to_loop(self._loop, self._sink, line, STDOUT, ts if ts is not None else time.time())

    def _run(self) -> None:
        """Follow until stopped or the container stops; resume when the engine comes back.

        docker-py ends a follow stream quietly when the connection drops, so every end is
        checked: container not running -> done; engine unreachable -> report once, retry with a
        capped backoff, and resume from the last line seen.
        """
        attempts, lost = 0, False
        while not self._stopping.is_set():
            try:
                client = self._clients.fresh()
            except DockerError as e:
                if not lost:
                    self._say(f"log stream lost: {e.message}; retrying")
                    lost = True
            else:
                try:
                    running = self._follow_once(client, resumed=lost)
                    lost = False
                    attempts = 0
                    if not running:
                        return
                except Exception as e:  # the thread's top level: report, never die silently
                    if self._stopping.is_set():
                        return
                    if not lost:
                        self._say(f"log stream lost: {e}; retrying")
                        lost = True
                finally:
                    client.close()
            self._stopping.wait(RETRY.delay(attempts))
            attempts += 1

    def _follow_once(self, client: DockerClient, resumed: bool) -> bool:
        """Stream until it ends; return whether the container is still running then."""
        stream = client.api.logs(self._container_id, stdout=True, stderr=True, stream=True,
                                 follow=True, timestamps=True, since=self._since)
        with self._lock:
            self._stream = stream
            if self._stopping.is_set():  # stop() ran before the stream existed
                stream.close()
                return False
        if resumed:
            self._say("log stream resumed")
        splitter = LineSplitter(MAX_LINE_CHARS - MARKER_ROOM + TIMESTAMP_CHARS)
        for chunk in stream:
            for text in splitter.feed(chunk):
                self._emit(text)
        for text in splitter.flush():
            self._emit(text)
        if self._stopping.is_set():
            return False
        try:
            return bool(client.api.inspect_container(self._container_id)["State"]["Running"])
        except NotFound:
            return False

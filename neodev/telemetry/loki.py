"""Ship every unit's output lines to Loki's push API, from the daemon's event loop.

Why this module exists: the daemon already sees every output line of every unit (containers
and processes alike), so it pushes them to Loki itself — no log agent to run (Promtail reached
its end of life, reference §9), and the same lines the dashboard shows end up in Grafana.

How it behaves, and why:
- `offer` is called for every line on the event loop, so it only appends to a bounded deque:
  O(1), never awaits. When the queue is full the OLDEST line is dropped and counted: under a
  long outage, the recent past is what a developer wants to see.
- `run` sends the head of the queue as one push request when a batch is full (lines or bytes)
  or `flush_interval` has passed. Lines leave the queue only once Loki accepted them (2xx) or
  refused them for good (4xx), so while Loki is down the queue holds the oldest unsent lines
  and drop-oldest really drops the oldest. A batch is bounded (`batch_lines`, `batch_bytes`,
  lines cut to `MAX_LINE_BYTES`), so encoding one never holds the event loop for long.
- 429, 5xx and connection errors are retried with capped exponential backoff; a 4xx other than
  408/429 (400: line too long, timestamp out of range, bad labels...) would fail again, so the
  batch is counted as rejected with Loki's reason and never retried.
- Labels stay few (`LABEL_NAMES`: project, unit, kind, stream): each label set is a Loki
  stream, and high cardinality hurts it. The level goes as structured metadata (the third
  element of a value) — it is per line, and Grafana reads a `level` field for its colours.
- Within a stream, timestamps are made strictly increasing, so lines read in one burst (same
  timestamp) keep their order in Loki.

Counters can overlap by at most one batch: a line evicted while its batch was in flight counts
as dropped even when that request then succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass
from typing import Final, Literal

import httpx

from neodev.protocol.documents import ShipperState, ShipperStateName
from neodev.telemetry import labels
from neodev.timing import Backoff, Clock, Deadline, Sleep, sleep_unless

PUSH_PATH: Final = "/loki/api/v1/push"
READY_PATH: Final = "/ready"
LABEL_NAMES: Final = (labels.PROJECT, labels.UNIT, labels.KIND, labels.STREAM)
"""The stream labels of every pushed line (Grafana queries select on these)."""
METADATA_NAMES: Final = ("level",)
"""Structured metadata a line may carry (queried as `| level="error"`)."""
ERROR_LEVELS: Final = ("error", "critical", "fatal")
"""The `level` values the provisioned dashboard counts as errors: the daemon's level detection
should name levels in lower case, like Grafana's log levels (trace, debug, info, warn, error,
critical, fatal)."""
MAX_LINE_BYTES: Final = 250_000
"""Longer lines are cut (with a marker): Loki refuses lines over 256 KB (`max_line_size`), and
one such line would get its whole batch refused."""
RETRY_INITIAL: Final = 0.5
"""Seconds before the first retry of a batch; doubled per further failure."""
RETRY_MAX: Final = 30.0
"""Cap on the retry delay, in seconds."""
RETRY: Final = Backoff(first=RETRY_INITIAL, cap=RETRY_MAX)
REQUEST_TIMEOUT: Final = 10.0
"""Seconds one push request may take."""
READY_TIMEOUT: Final = 2.0
"""Seconds the readiness question may take."""
DROP_RECENT: Final = 10.0
"""For this many seconds after a line was dropped, the state says `dropping`."""
STOP_TIMEOUT: Final = 2.0
"""Default bound of `stop`: seconds spent flushing before giving up."""


_LINE_OVERHEAD = 40  # bytes of JSON around a line: timestamp, quotes, brackets, commas
_CUT_MARKER = " [... cut by neodev: {} bytes]"


@dataclass(frozen=True, slots=True)
class ShippedLine:
    """One output line of a unit, as the daemon offers it to the shipper."""

    unit: str
    kind: str
    """`process` or `container`."""
    stream: str
    """`stdout`, `stderr` or `neodev` (neodev's own lines about the unit)."""
    ts: float
    """When the line was read, in epoch seconds."""
    line: str
    level: str | None
    """Lower-case log level found by the daemon (`debug`, `info`, `warn`, `error`...), if any;
    `ERROR_LEVELS` are the ones the dashboard counts as errors."""


class LokiShipper:
    """Batches offered lines and pushes them to Loki; see the module docstring for the policy.

    Args:
        url: Loki's base URL, e.g. `http://127.0.0.1:3100` (`neodev.telemetry.urls.loki_url`).
        project: The `project` label of every line.
        max_queue: Lines kept at most; beyond, the oldest are dropped.
        batch_lines: Lines per push request at most.
        batch_bytes: Approximate payload bytes per push request at most.
        flush_interval: Seconds a partial batch waits for more lines before it is sent.
        client: An httpx client to use (not closed by the shipper); by default one is made
            with `trust_env=False` (no proxy may capture a local push) and closed by `stop`.
        clock: Monotonic seconds (injected for tests).
        sleep: Awaitable sleep (injected for tests); every wait of the shipper goes through it.
    """

    def __init__(self, url: str, project: str, *, max_queue: int = 50_000,
                 batch_lines: int = 1000, batch_bytes: int = 1_000_000,
                 flush_interval: float = 1.0, client: httpx.AsyncClient | None = None,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        if min(max_queue, batch_lines, batch_bytes) < 1 or flush_interval <= 0:
            raise ValueError("max_queue, batch_lines, batch_bytes and flush_interval must be "
                             "positive")
        self._push_url = url.rstrip("/") + PUSH_PATH
        self._project = project
        self._max_queue = max_queue
        self._batch_lines = batch_lines
        self._batch_bytes = batch_bytes
        self._flush_interval = flush_interval
        self._client = client
        self._own_client = client is None
        self._clock = clock
        self._sleep = sleep
        self._queue: deque[ShippedLine] = deque(maxlen=max_queue)
        # The loop is woken when the queue gets its first line or a full batch, not per line.
        self._wake_at = min(batch_lines, max_queue)
        self._wakeup = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stop_deadline = Deadline(None, clock)
        self._task: asyncio.Task[None] | None = None
        self._last_ns: dict[tuple[str, str, str], int] = {}
        self._down = False
        self._dropped = 0
        self._dropped_at: float | None = None
        self._rejected = 0
        self._last_rejection: str | None = None
        self._sent = 0
        self._last_error: str | None = None

    # -- the event loop side ------------------------------------------------------------------

    def offer(self, line: ShippedLine) -> None:
        """Queue one line: O(1), never blocks. A full queue drops (and counts) its oldest line.

        Call it on the event loop's thread (the daemon's log sinks run there): it may set an
        asyncio.Event, which is not thread-safe. Mask secrets before: lines leave the machine.
        """
        queue = self._queue
        if len(queue) == self._max_queue:
            self._dropped += 1
            self._dropped_at = self._clock()
        queue.append(line)  # a deque with maxlen evicts from the left
        size = len(queue)
        if size == 1 or size == self._wake_at:
            self._wakeup.set()

    def state(self) -> ShipperState:
        """The current state and counters."""
        queued = len(self._queue)
        behind = max(0, queued - self._batch_lines)
        name: ShipperStateName
        if self._down:
            name = "down"
        elif self._dropped_at is not None and self._clock() - self._dropped_at < DROP_RECENT:
            name = "dropping"
        elif behind:
            name = "behind"
        elif queued:  # the batch in flight is still queued: lines leave once answered
            name = "shipping"
        else:
            name = "idle"
        return ShipperState(state=name, queued=queued, behind=behind, dropped=self._dropped,
                            rejected=self._rejected, last_rejection=self._last_rejection,
                            sent=self._sent, last_error=self._last_error)

    # -- the shipping task --------------------------------------------------------------------

    async def run(self) -> None:
        """Ship until `stop`: a batch when one is full or `flush_interval` has passed.

        Returns at once when `stop` came first (a task created and stopped before it ran).

        Raises:
            RuntimeError: `run` is already running (or ran before).
        """
        if self._task is not None:
            raise RuntimeError("LokiShipper.run can run only once")
        if self._stopped.is_set():
            return
        self._task = asyncio.current_task()
        try:
            while not self._stopped.is_set():
                if not self._queue:
                    await self._wait(None)  # until the first line (or stop)
                    continue
                if len(self._queue) < self._wake_at:
                    await self._wait(self._flush_interval)  # a partial batch: wait for more
                    if self._stopped.is_set():
                        break
                await self._send_head()
            await self._drain()
        finally:
            await self._close_client()

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Flush what can be sent within `timeout` seconds, then end `run`.

        Lines still queued afterwards stay counted in `queued`.
        """
        self._stop_deadline = Deadline(timeout, self._clock)
        self._stopped.set()
        self._wakeup.set()
        task = self._task
        if task is None:  # run() never started: flush from here
            try:
                await self._drain()
            finally:
                await self._close_client()
            return
        if task is asyncio.current_task() or task.done():
            return
        # The drain bounds itself by the deadline, but a request sent before `stop` has its
        # own (longer) timeout: past the deadline the task is cancelled, not awaited.
        done, _ = await asyncio.wait({task}, timeout=max(0.0, self._time_left()))
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _drain(self) -> None:
        while self._queue and self._time_left() > 0:
            if not await self._send_head():
                return

    def _time_left(self) -> float:
        return self._stop_deadline.remaining()

    async def _wait(self, timeout: float | None) -> None:
        """Until the wakeup event (first line, full batch, stop) or `timeout` seconds."""
        self._wakeup.clear()
        if len(self._queue) >= self._wake_at or self._stopped.is_set():
            return
        if timeout is None:
            await self._wakeup.wait()
        else:
            await sleep_unless(self._wakeup, timeout, self._sleep)

    async def _pause(self, delay: float) -> None:
        """Sleep `delay` seconds before a retry; `stop` cuts it short."""
        await sleep_unless(self._stopped, delay, self._sleep)

    async def _send_head(self) -> bool:
        """Push the batch at the head of the queue until it is delivered or refused.

        Returns:
            False when stopping and the deadline leaves no time for another attempt.
        """
        attempt = 0
        while self._queue:
            count, body, last_ns = self._encode_head()
            evicted_before = self._dropped
            outcome = await self._post(body)
            if outcome != "retry":
                # Lines evicted from the head meanwhile were part of this batch.
                done = max(0, count - (self._dropped - evicted_before))
                for _ in range(done):
                    self._queue.popleft()
                self._last_ns.update(last_ns)
                if outcome == "sent":
                    self._sent += count
                else:
                    self._rejected += count
                return True
            delay = RETRY.delay(attempt)
            attempt += 1
            if self._stopped.is_set() and delay >= self._time_left():
                return False
            await self._pause(delay)
            if self._stopped.is_set() and self._time_left() <= 0:
                return False
        return True

    async def _post(self, body: bytes) -> Literal["sent", "rejected", "retry"]:
        client = self._client
        if client is None:
            client = self._client = httpx.AsyncClient(trust_env=False,
                                                      timeout=REQUEST_TIMEOUT)
        timeout = max(0.1, min(REQUEST_TIMEOUT, self._time_left()))
        try:
            response = await client.post(self._push_url, content=body, timeout=timeout,
                                         headers={"Content-Type": "application/json"})
        except httpx.TransportError as exc:  # refused, reset, timed out: Loki is not there
            self._down = True
            self._last_error = f"{type(exc).__name__}: {exc}" if str(exc) else \
                type(exc).__name__
            return "retry"
        status = response.status_code
        self._down = status >= 500
        if 200 <= status < 300:
            return "sent"
        reason = f"HTTP {status}: {response.text.strip()[:500]}"
        if status >= 500 or status in (408, 429):
            self._last_error = reason
            return "retry"
        self._last_rejection = reason
        return "rejected"

    def _encode_head(self) -> tuple[int, bytes, dict[tuple[str, str, str], int]]:
        """The head batch as a push body: (line count, JSON bytes, last ns per stream)."""
        streams: dict[tuple[str, str, str], list[list[object]]] = {}
        last_ns = dict(self._last_ns)
        count = size = 0
        for item in itertools.islice(self._queue, self._batch_lines):
            text, length = _fit(item.line)
            length += _LINE_OVERHEAD + (len(item.level) + 12 if item.level else 0)
            if count and size + length > self._batch_bytes:
                break
            key = (item.unit, item.kind, item.stream)
            ns = int(item.ts * 1_000_000_000)
            previous = last_ns.get(key)
            if previous is not None and ns <= previous:
                ns = previous + 1  # same instant (or clock step back): keep the order
            last_ns[key] = ns
            value: list[object] = [str(ns), text]
            if item.level:
                value.append({"level": item.level})
            streams.setdefault(key, []).append(value)
            count += 1
            size += length
        payload = {"streams": [
            {"stream": dict(zip(LABEL_NAMES, (self._project, *key), strict=True)),
             "values": values} for key, values in streams.items()]}
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return count, body, last_ns

    async def _close_client(self) -> None:
        if self._own_client and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


def _fit(text: str) -> tuple[str, int]:
    """(the line cut to MAX_LINE_BYTES, its UTF-8 length)."""
    if text.isascii():
        length = len(text)
        if length <= MAX_LINE_BYTES:
            return text, length
    elif len(text) * 4 <= MAX_LINE_BYTES:
        return text, len(text.encode())
    data = text.encode()
    if len(data) <= MAX_LINE_BYTES:
        return text, len(data)
    marker = _CUT_MARKER.format(len(data) - MAX_LINE_BYTES + 64)
    cut = data[:MAX_LINE_BYTES - 64].decode(errors="ignore") + marker
    return cut, len(cut.encode())


async def loki_ready(url: str, client: httpx.AsyncClient) -> bool:
    """Whether Loki answers `GET /ready` with 200 (it says 503 for ~15 s after start).

    Args:
        url: Loki's base URL (`http://127.0.0.1:3100`).
        client: The httpx client to ask with (`trust_env=False`: no proxy for a local check).
    """
    try:
        response = await client.get(url.rstrip("/") + READY_PATH, timeout=READY_TIMEOUT)
    except httpx.TransportError:  # not listening (yet): not ready, which is the answer
        return False
    return response.status_code == 200

"""The Loki shipper against a STAND-IN for Loki's push API (tests/loki_standin.py, not Loki).

Every request is checked against Loki's documented push format by the stand-in; each test also
asserts it saw no violation. Waits are bounded polls; time-dependent logic (backoff delays,
"dropped recently") runs on an injected sleep and clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest

from neodev.protocol import encode
from neodev.telemetry.loki import (
    DROP_RECENT,
    LABEL_NAMES,
    MAX_LINE_BYTES,
    RETRY_INITIAL,
    RETRY_MAX,
    LokiShipper,
    ShippedLine,
    loki_ready,
)
from tests.clocks import FakeClock
from tests.loki_standin import LokiStandIn, Push
from tests.waiting import until_async


@pytest.fixture
def loki() -> Iterator[LokiStandIn]:
    """The stand-in receiver (NOT Loki), asserting at the end that nothing broke the format."""
    with LokiStandIn() as standin:
        yield standin
        assert standin.violations == []


class ScaledSleep:
    """Records every requested delay and sleeps 1/100 of it: backoff schedules run fast."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(delay / 100)


def line(i: int, unit: str = "backend", stream: str = "stdout", level: str | None = None,
         ts: float | None = None, text: str | None = None) -> ShippedLine:
    return ShippedLine(unit=unit, kind="process", stream=stream,
                       ts=1_767_225_600.0 + i / 1000 if ts is None else ts,
                       line=f"line {i}" if text is None else text, level=level)


def running(shipper: LokiShipper) -> asyncio.Task[None]:
    return asyncio.create_task(shipper.run())


def sent_lines(loki: LokiStandIn, ok: Callable[[Push], bool] = lambda p: p.status < 300
               ) -> list[str]:
    return [text for p in loki.pushes if ok(p) for text in p.lines]


async def test_batches_by_line_count_and_stop_flushes_the_rest(loki: LokiStandIn) -> None:
    shipper = LokiShipper(loki.url, "neotool", batch_lines=100, flush_interval=30)
    task = running(shipper)
    for i in range(250):
        shipper.offer(line(i))
    await until_async(lambda: len(loki.pushes) == 2, "two full batches", 5.0, interval=0.005)
    await asyncio.sleep(0.2)
    assert [len(p.values) for p in loki.pushes] == [100, 100]  # the partial batch waits
    assert shipper.state().queued == 50
    await shipper.stop()
    assert task.done()
    assert [len(p.values) for p in loki.pushes] == [100, 100, 50]
    assert sent_lines(loki) == [f"line {i}" for i in range(250)]  # in order
    assert encode(shipper.state()) == {
        "state": "idle", "queued": 0, "behind": 0, "dropped": 0, "rejected": 0,
        "last_rejection": None, "sent": 250, "last_error": None}


async def test_batches_by_bytes(loki: LokiStandIn) -> None:
    shipper = LokiShipper(loki.url, "neotool", batch_bytes=10_000, flush_interval=30)
    task = running(shipper)
    for i in range(30):
        shipper.offer(line(i, text=f"{i:04d}" + "x" * 996))  # 1000-byte lines
    await shipper.stop()
    await task
    # 1000 bytes + ~40 of JSON around each: 9 lines fit in 10,000 bytes, 10 would not
    assert [len(p.values) for p in loki.pushes] == [9, 9, 9, 3]
    assert all(len(p.body) <= 10_000 for p in loki.pushes)
    assert len(sent_lines(loki)) == 30


async def test_a_partial_batch_goes_after_the_flush_interval(loki: LokiStandIn) -> None:
    shipper = LokiShipper(loki.url, "neotool", flush_interval=0.3)
    task = running(shipper)
    started = time.monotonic()
    for i in range(3):
        shipper.offer(line(i))
    await until_async(lambda: len(loki.pushes) == 1, "the timed flush", 5.0, interval=0.005)
    waited = time.monotonic() - started
    assert 0.25 <= waited < 2.0, waited
    shipper.offer(line(3))
    await until_async(lambda: len(loki.pushes) == 2, "a second timed flush", 5.0, interval=0.005)
    assert [len(p.values) for p in loki.pushes] == [3, 1]
    await shipper.stop()
    await task


async def test_labels_metadata_and_timestamps(loki: LokiStandIn) -> None:
    shipper = LokiShipper(loki.url, "neotool", flush_interval=30)
    same = 1_767_225_600.5
    offered = [line(0, level="info", ts=same), line(1, stream="stderr", level="error", ts=same),
               line(2, ts=same), line(3, unit="postgres", ts=same + 1),
               line(4, level="warn", ts=same - 1)]  # a clock step back in the same stream
    for item in offered:
        shipper.offer(item)
    await shipper.stop()
    (push,) = loki.pushes
    streams = {tuple(s["stream"][k] for k in ("unit", "stream")): s for s in push.streams}
    assert set(streams) == {("backend", "stdout"), ("backend", "stderr"), ("postgres", "stdout")}
    for stream in push.streams:
        assert tuple(stream["stream"]) == LABEL_NAMES
        assert stream["stream"]["project"] == "neotool"
        assert stream["stream"]["kind"] == "process"
    stdout = streams[("backend", "stdout")]["values"]
    ns = str(int(same * 1e9))
    # level is structured metadata (third element), only when known; within a stream equal or
    # earlier timestamps are bumped by 1 ns so Loki keeps the offered order
    assert stdout == [[ns, "line 0", {"level": "info"}], [str(int(ns) + 1), "line 2"],
                      [str(int(ns) + 2), "line 4", {"level": "warn"}]]
    assert streams[("backend", "stderr")]["values"] == [[ns, "line 1", {"level": "error"}]]
    assert streams[("postgres", "stdout")]["values"] == [[str(int((same + 1) * 1e9)),
                                                          "line 3"]]


async def test_429_is_retried_with_backoff_and_the_same_body(loki: LokiStandIn) -> None:
    loki.script.append((429, "Ingestion rate limit exceeded"))
    sleep = ScaledSleep()
    shipper = LokiShipper(loki.url, "neotool", flush_interval=0.05, sleep=sleep)
    task = running(shipper)
    for i in range(5):
        shipper.offer(line(i))
    await until_async(lambda: len(loki.pushes) == 2, "the retry", 5.0, interval=0.005)
    first, second = loki.pushes
    assert (first.status, second.status) == (429, 204)
    assert first.body == second.body  # same lines, same timestamps: no duplicates in Loki
    await until_async(lambda: shipper.state().sent == 5, "5 sent", 5.0, interval=0.005)
    state = shipper.state()
    assert state.state == "idle" and state.rejected == 0
    assert state.last_error == "HTTP 429: Ingestion rate limit exceeded"
    assert [d for d in sleep.delays if d != 0.05] == [RETRY_INITIAL]
    await shipper.stop()
    await task


async def test_down_drops_the_oldest_then_recovers_in_order(loki: LokiStandIn) -> None:
    loki.default_status = 500
    sleep, clock = ScaledSleep(), FakeClock(start=1000.0)
    shipper = LokiShipper(loki.url, "neotool", max_queue=100, batch_lines=10,
                          flush_interval=0.05, sleep=sleep, clock=clock)
    task = running(shipper)
    shipper.offer(line(0))
    await until_async(lambda: shipper.state().state == "down", "down", 5.0, interval=0.005)
    for i in range(1, 250):
        shipper.offer(line(i))
    state = shipper.state()
    assert (state.state, state.queued, state.dropped, state.behind) == ("down", 100, 150, 90)
    await until_async(lambda: len([d for d in sleep.delays if d != 0.05]) >= 8, "eight retries",
                      10, interval=0.005)
    # capped exponential backoff between the attempts on the same batch
    assert [d for d in sleep.delays if d != 0.05][:8] == [0.5, 1, 2, 4, 8, 16, RETRY_MAX,
                                                         RETRY_MAX]
    assert shipper.state().last_error == "HTTP 500: "

    loki.default_status = 204  # Loki is back
    await until_async(lambda: shipper.state().queued == 0, "the queue drained", 10,
                      interval=0.005)
    # exactly the 100 newest lines arrived, in order: the oldest 150 were the ones dropped
    assert sent_lines(loki) == [f"line {i}" for i in range(150, 250)]
    state = shipper.state()
    assert (state.state, state.sent, state.dropped) == ("dropping", 100, 150)
    clock.now += DROP_RECENT
    assert shipper.state().state == "idle"
    await shipper.stop()
    await task


async def test_connection_refused_is_down_and_retried_until_loki_answers(
        loki: LokiStandIn) -> None:
    loki.stop()  # the port refuses connections now
    sleep = ScaledSleep()
    shipper = LokiShipper(loki.url, "neotool", flush_interval=0.05, sleep=sleep)
    task = running(shipper)
    shipper.offer(line(0))
    await until_async(lambda: shipper.state().state == "down", "down", 5.0, interval=0.005)
    assert (shipper.state().last_error or "").startswith("ConnectError")
    loki.start()  # back, same port
    await until_async(lambda: shipper.state().sent == 1, "delivered after return", 10,
                      interval=0.005)
    assert shipper.state().state == "idle"
    await shipper.stop()
    await task


async def test_400_is_not_retried_and_keeps_the_reason(loki: LokiStandIn) -> None:
    reason = "entry for stream '{unit=\"backend\"}' has timestamp too old"
    loki.script.append((400, reason))
    sleep = ScaledSleep()
    shipper = LokiShipper(loki.url, "neotool", flush_interval=0.05, sleep=sleep)
    task = running(shipper)
    for i in range(5):
        shipper.offer(line(i))
    await until_async(lambda: shipper.state().rejected == 5, "rejected", 5.0, interval=0.005)
    await asyncio.sleep(0.2)
    assert len(loki.pushes) == 1  # exactly one request for that batch
    state = shipper.state()
    assert state.last_rejection == f"HTTP 400: {reason}"
    assert (state.sent, state.queued, state.last_error) == (0, 0, None)
    assert [d for d in sleep.delays if d != 0.05] == []  # no backoff either
    shipper.offer(line(5))  # the next lines are shipped as usual
    await until_async(lambda: shipper.state().sent == 1, "the next batch", 5.0, interval=0.005)
    assert loki.pushes[-1].lines == ["line 5"]
    await shipper.stop()
    await task


def test_offer_is_cheap_and_needs_no_event_loop() -> None:
    shipper = LokiShipper("http://127.0.0.1:9", "neotool")  # nothing listens: never contacted
    item = line(0)
    started = time.perf_counter()
    for _ in range(100_000):
        shipper.offer(item)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"100k offers took {elapsed:.3f}s"
    state = shipper.state()
    assert (state.queued, state.dropped, state.state) == (50_000, 50_000, "dropping")


async def test_stop_is_bounded_when_loki_hangs(loki: LokiStandIn) -> None:
    loki.hang.set()  # accepts the request, never answers (until released at teardown)
    shipper = LokiShipper(loki.url, "neotool", flush_interval=0.05)
    task = running(shipper)
    for i in range(3):
        shipper.offer(line(i))
    await asyncio.sleep(0.2)  # the push is in flight now
    started = time.monotonic()
    await shipper.stop(timeout=0.5)
    assert time.monotonic() - started < 1.0
    assert task.done()
    assert shipper.state().queued == 3  # not lost silently: still counted


async def test_stop_without_run_flushes_within_the_bound(loki: LokiStandIn) -> None:
    shipper = LokiShipper(loki.url, "neotool")
    shipper.offer(line(0))
    await shipper.stop()
    assert sent_lines(loki) == ["line 0"]
    await asyncio.wait_for(shipper.run(), 1.0)  # stopped first: returns at once


async def test_run_cannot_run_twice(loki: LokiStandIn) -> None:
    shipper = LokiShipper(loki.url, "neotool")
    task = running(shipper)
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="only once"):
        await shipper.run()
    await shipper.stop()
    await task


async def test_a_line_over_lokis_limit_is_cut_not_refused(loki: LokiStandIn) -> None:
    shipper = LokiShipper(loki.url, "neotool")
    shipper.offer(line(0, text="é" * 400_000))  # 800,000 bytes in UTF-8
    shipper.offer(line(1))
    await shipper.stop()
    (push,) = loki.pushes
    first, second = push.lines
    assert len(first.encode()) <= MAX_LINE_BYTES
    assert first.startswith("éé") and first.endswith(" bytes]")
    assert second == "line 1"


async def test_an_injected_client_is_used_and_left_open(loki: LokiStandIn) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        shipper = LokiShipper(loki.url + "/", "p", client=client)
        shipper.offer(line(0))
        await shipper.stop()
        assert not client.is_closed
    assert len(loki.pushes) == 1


async def test_loki_ready(loki: LokiStandIn) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        loki.ready_status = 503
        assert await loki_ready(loki.url, client) is False
        loki.ready_status = 200
        assert await loki_ready(loki.url, client) is True
    loki.stop()
    async with httpx.AsyncClient(trust_env=False) as client:  # no kept-alive connection
        assert await loki_ready(loki.url, client) is False


def test_constructor_refuses_nonsense() -> None:
    bad: list[Callable[[], Awaitable[None] | LokiShipper]] = [
        lambda: LokiShipper("http://127.0.0.1:3100", "p", batch_lines=0),
        lambda: LokiShipper("http://127.0.0.1:3100", "p", flush_interval=0)]
    for make in bad:
        with pytest.raises(ValueError):
            make()

"""The per-line log path: splitting, level detection, the bus's routing, the wire encoding.

The fast paths (a chunk split in a few calls, a level searched only from its clues, events
routed by type) must give exactly what the straightforward versions give: each is checked
against a reference written the plain way, over seeded random input.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import re

import pytest

from neodev.engine.events import EventBus
from neodev.engine.lines import MARKER_ROOM, MAX_LINE_CHARS, LineSplitter, bound_line
from neodev.engine.logs import LEVEL_SCAN_CHARS, LogStore, detect_level
from neodev.protocol import (
    LogEvent,
    LogRecord,
    UnitChanged,
    UnitRecord,
    decode,
    decode_event,
    encode,
    encode_event,
)

# -- references: the plain versions the fast ones replaced ------------------------------------


class ReferenceSplitter:
    """Line by line, byte by byte: cut at `limit` bytes, the rest counted."""

    def __init__(self, limit: int) -> None:
        self.limit, self.buffer, self.skipped = limit, bytearray(), 0

    def feed(self, chunk: bytes) -> list[str]:
        lines = []
        for byte in chunk:
            if byte == 0x0A:
                lines.append(self.finish())
            elif len(self.buffer) < self.limit:
                self.buffer.append(byte)
            else:
                self.skipped += 1
        return lines

    def flush(self) -> list[str]:
        return [self.finish()] if self.buffer or self.skipped else []

    def finish(self) -> str:
        text = self.buffer.decode("utf-8", "replace").rstrip("\r")
        if self.skipped:
            text += f" … [neodev: {self.skipped} more bytes of this line not kept]"
        self.buffer, self.skipped = bytearray(), 0
        return text


REFERENCE_LEVELS = (
    ("error", r"\b(?:ERROR|ERR|FATAL|CRITICAL|PANIC|SEVERE|Traceback|Exception)\b|"
              r"level[\"']?\s*[=:]\s*[\"']?(?:error|fatal|critical|panic)\b"),
    ("warn", r"\b(?:WARN|WARNING)\b|level[\"']?\s*[=:]\s*[\"']?warn"),
    ("info", r"\bINFO\b|level[\"']?\s*[=:]\s*[\"']?info\b"),
    ("debug", r"\b(?:DEBUG|TRACE)\b|level[\"']?\s*[=:]\s*[\"']?(?:debug|trace)\b"),
)
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def reference_level(line: str) -> str | None:
    """Every pattern searched over the whole head, in order of precedence."""
    head = ANSI.sub("", line[:LEVEL_SCAN_CHARS])
    for level, pattern in REFERENCE_LEVELS:
        if re.search(pattern, head, re.IGNORECASE):
            return level
    return None


# -- the splitter -----------------------------------------------------------------------------

PIECES = [b"INFO started", b"", b"\r", b"x" * 40, "héllo wörld ✓".encode(), b"\xff\xfe bad",
          b"caf\xc3", b"\xa9", b"level=warn", b"y" * 300]


@pytest.mark.parametrize("seed", range(40))
def test_splitter_gives_what_a_byte_wise_splitter_gives(seed: int) -> None:
    rng = random.Random(seed)
    limit = rng.choice([16, 64, 1000])
    data = b"".join(rng.choice(PIECES) + (b"\n" if rng.random() < 0.6 else b"")
                    for _ in range(rng.randint(0, 300)))
    fast, slow = LineSplitter(limit), ReferenceSplitter(limit)
    got, want = [], []
    position = 0
    while position < len(data):  # random chunking, cutting lines and UTF-8 sequences anywhere
        size = rng.choice([1, 2, 7, 64, 500, 4096])
        chunk = data[position:position + size]
        position += size
        got += fast.feed(chunk)
        want += slow.feed(chunk)
    got += fast.flush()
    want += slow.flush()
    assert got == want


def test_an_over_long_line_is_cut_at_the_limit_and_counted() -> None:
    splitter = LineSplitter()
    limit = MAX_LINE_CHARS - MARKER_ROOM
    lines = splitter.feed(b"short\n" + b"z" * (limit + 500) + b"\nafter\n")
    assert lines[0] == "short"
    assert lines[1] == "z" * limit + " … [neodev: 500 more bytes of this line not kept]"
    assert lines[2] == "after"
    assert len(lines[1]) < MAX_LINE_CHARS  # so the store does not cut it again


def test_bound_line_marks_what_it_drops() -> None:
    assert bound_line("abc", 5) == "abc"
    assert bound_line("abcdefgh", 5) == "abcde … [neodev: 3 more characters not kept]"


# -- levels -----------------------------------------------------------------------------------

LEVEL_SAMPLES = [
    "2026-12-06 12:00:07.007 INFO  [main] c.n.Service - started in 7 ms",
    "2026-12-06 12:00:07.007 DEBUG [main] c.n.Service - request",
    "2026-12-06 12:00:07.007 WARN  [main] disk almost full",
    "2026-12-06 12:00:07.007 ERROR [main] c.n.Service - failed",
    "INFO retrying after error",  # error wins, wherever it is
    "informational, not info-level", "an interrupted ERRand", "tracebacks", "levelled",
    '{"level":"warning","msg":"x"}', "{'level': 'info'}", "loglevel=error", "level = debug",
    "LEVEL: Trace", "Traceback (most recent call last):", "java.lang.IllegalStateException",
    "RuntimeException: boom", "severe weather", "SEVERE: x", "critical-path", "panic: oops",
    "fatal error: x", "\x1b[31mERROR\x1b[0m red", "\x1b[2Kinfo", "plain line", "",
    "warn", "warning: x", "WARNINGS", "DEBUGGING", "debug_mode", "trace_id=42",
    "\u0131nfo with a dotless i", "\u212aelvin", "level=\u0131nfo", "résumé INFO",
    "x" * 250 + " ERROR", "x" * 190 + " ERROR", "fatalevel=warn",
]


@pytest.mark.parametrize("line", LEVEL_SAMPLES)
def test_detect_level_agrees_with_searching_every_pattern(line: str) -> None:
    assert detect_level(line) == reference_level(line)


@pytest.mark.parametrize("seed", range(30))
def test_detect_level_agrees_on_random_lines(seed: int) -> None:
    rng = random.Random(seed)
    words = ["info", "INFO", "Info", "error", "err", "ERR", "warn", "WARNING", "debug",
             "trace", "level", "LEVEL=", "level:", "=", ":", '"', "'", " ", " ", "x", "_",
             "9", "Exception", "traceback", "fatal", "panic", "critical", "severe", "\u0131",
             "\x1b[1m", "é", "-", "[", "]"]
    for _ in range(300):
        line = "".join(rng.choice(words) for _ in range(rng.randint(0, 40)))
        assert detect_level(line) == reference_level(line), line


# -- the store and the bus --------------------------------------------------------------------

def test_the_store_masks_bounds_numbers_and_publishes_each_line() -> None:
    bus = EventBus("i")
    sub = bus.subscribe(["api"], ["log"])
    kept: list[LogRecord] = []
    store = LogStore(["api", "db"], bus, 10, mask=lambda t: t.replace("hunter2", "***"),
                     on_append=kept.append)
    store.append("api", "password hunter2 ERROR", "stdout", 1.0)
    store.append("db", "other unit", "stdout", 2.0)
    store.append("api", "y" * (MAX_LINE_CHARS + 5), "stderr", 3.0)
    assert [r.id for r in kept] == [1, 2, 3]
    assert kept[0].line == "password *** ERROR" and kept[0].level == "error"
    assert kept[2].line.endswith("[neodev: 5 more characters not kept]")
    assert sub.pending() == 2  # the db line is not this subscriber's
    assert store.tail("api", 5) == [kept[0], kept[2]]


def test_routes_follow_subscribers_that_come_and_go() -> None:
    bus = EventBus("i")
    record = LogRecord(1, "api", 0.0, "stdout", "x")
    bus.emit(LogEvent, record=record)  # a route for "log" is worked out with no subscriber
    logs = bus.subscribe(types=["log"])
    units = bus.subscribe(types=["unit"])
    everything = bus.subscribe()
    bus.emit(LogEvent, record=record)
    bus.emit(UnitChanged, status=UnitRecord("api", "process"))
    assert (logs.pending(), units.pending(), everything.pending()) == (1, 1, 2)
    logs.close()
    bus.emit(LogEvent, record=record)
    assert (logs.pending(), everything.pending()) == (1, 3)


def test_a_log_record_is_written_and_read_as_asdict_says() -> None:
    """The hand-written `__init__` of the hot records and the codec's fast path for them
    change nothing: the same fields, the same JSON, the same record back."""
    record = LogRecord(7, "api", 1.5, "stderr", "boom", "error")
    assert encode(record) == dataclasses.asdict(record)
    assert decode(LogRecord, encode(record)) == record
    assert LogRecord(id=7, unit="api", ts=1.5, stream="stderr", line="boom",
                     level="error") == record
    event = LogEvent(3, 2.0, record)
    assert encode_event(event)["record"] == dataclasses.asdict(record)
    assert decode_event(encode_event(event)) == event


def test_a_subscriber_of_a_flood_is_told_what_it_missed() -> None:
    async def run() -> None:
        bus = EventBus("i", queue_size=5)
        sub = bus.subscribe(types=["log"])
        for n in range(8):
            bus.emit(LogEvent, record=LogRecord(n, "api", 0.0, "stdout", "x"))
        first = await sub.next()
        assert first.type == "resync"
    asyncio.run(run())

"""Figures of the Loki shipper: cost of `offer`, cost of encoding a batch, end-to-end rate.

The receiver is the STAND-IN for Loki's push API used by the tests (tests/loki_standin.py, a
stdlib HTTP server on 127.0.0.1 that validates the push format) — not Loki, which cannot run
here, so the end-to-end rate says what the shipper can do, not what Loki ingests.

Run: `.venv/bin/python benchmarks/loki_shipper.py [--lines 200000]`
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neodev.telemetry.loki import LokiShipper, ShippedLine  # noqa: E402
from tests.loki_standin import LokiStandIn  # noqa: E402
from tests.waiting import until_async  # noqa: E402

TYPICAL = "2026-01-01 12:00:00.123 INFO  [http-nio-8080-exec-3] c.n.api.ItemController - GET /items 200 in 3 ms"  # noqa: E501


def _line(i: int, text: str = TYPICAL) -> ShippedLine:
    return ShippedLine(unit="backend", kind="process", stream="stdout",
                       ts=1_767_225_600 + i / 1e6, line=text, level="info" if i % 4 else None)


def offers(n: int) -> None:
    shipper = LokiShipper("http://127.0.0.1:9", "neotool", max_queue=50_000)
    items = [_line(i) for i in range(1000)]
    started = time.perf_counter()
    for i in range(n):
        shipper.offer(items[i % 1000])
    elapsed = time.perf_counter() - started
    print(f"offer: {n / elapsed:,.0f} offers/s ({elapsed / n * 1e9:.0f} ns each; "
          f"{shipper.state().dropped:,} dropped by the 50,000-line queue)")


def encoding() -> None:
    for label, text, lines in (("1000 typical lines", TYPICAL, 1000),
                               ("1 MB batch of 1000-byte lines", "x" * 1000, 1000)):
        shipper = LokiShipper("http://127.0.0.1:9", "neotool", batch_lines=lines)
        for i in range(lines):
            shipper.offer(_line(i, text))
        samples = []
        size = 0
        for _ in range(20):
            started = time.perf_counter()
            count, body, _ = shipper._encode_head()  # the work one push does on the loop
            samples.append(time.perf_counter() - started)
            size = len(body)
        print(f"encode {label}: {count} lines, {size:,} bytes, median "
              f"{statistics.median(samples) * 1e3:.2f} ms, max {max(samples) * 1e3:.2f} ms "
              "on the event loop")


async def end_to_end(n: int) -> None:
    with LokiStandIn() as loki:
        shipper = LokiShipper(loki.url, "neotool", max_queue=n)
        task = asyncio.create_task(shipper.run())
        started = time.perf_counter()
        for i in range(n):
            shipper.offer(_line(i))
            if i % 5000 == 0:
                await asyncio.sleep(0)  # the daemon's loop does other work between lines
        with contextlib.suppress(AssertionError):  # a shortfall shows in the figures
            await until_async(lambda: shipper.state().sent, f"{n:,} lines sent", 120,
                              ok=lambda sent: sent >= n, interval=0.01)
        elapsed = time.perf_counter() - started
        await shipper.stop()
        await task
        sizes = [len(p.values) for p in loki.pushes]
        print(f"end to end (stand-in receiver): {shipper.state().sent:,} lines in "
              f"{elapsed:.2f} s = {shipper.state().sent / elapsed:,.0f} lines/s, "
              f"{len(sizes)} pushes, median {statistics.median(sizes):.0f} lines each, "
              f"violations {len(loki.violations)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    args = parser.parse_args()
    offers(args.lines)
    encoding()
    asyncio.run(end_to_end(args.lines))


if __name__ == "__main__":
    main()

"""Which output lines answer neodev's own http probes (`HttpProbe.answers`).

A real probe against a real local server that logs its requests the way the demo apps and
Python's http.server do (no User-Agent in the line): the line it logs while serving the probe
is recognised by the request it names and the time it came; the same request an instant
later than the probe's grace, another path, or another request are not. A log that writes the
agent (combined format) marks the line beyond doubt, whenever it comes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from neodev.config.model import Probe
from neodev.health.probes import ANSWER_GRACE, PROBE_AGENT, HttpProbe
from neodev.health.unit import UnitProbes

LOGGED: list[tuple[float, str, str]] = []
"""(wall time, access-log line, User-Agent) of each request the server served."""


class Logging(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        LOGGED.append((time.time(), f"{self.address_string()} {format % args}",
                       self.headers.get("User-Agent", "")))


@pytest.fixture
def server() -> Iterator[int]:
    LOGGED.clear()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Logging)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_line_logged_while_serving_a_probe_answers_it(server: int) -> None:
    probe = HttpProbe(f"http://127.0.0.1:{server}/health")
    assert asyncio.run(probe.check()).ok
    [(ts, line, agent)] = LOGGED
    assert '"GET /health HTTP/1.1" 200' in line and PROBE_AGENT not in line
    assert agent.startswith(f"{PROBE_AGENT}/")
    assert probe.answers(line, ts)
    assert probe.answers(line, ts + ANSWER_GRACE / 2)  # read from the pipe a moment later
    # the same request well after the probe's answer: someone else's, shown
    assert not probe.answers(line, ts + ANSWER_GRACE + 2)
    assert not probe.answers(line, ts - 5)
    # another path, or another request, at the same moment
    assert not probe.answers(line.replace("/health", "/healthz"), ts)
    assert not probe.answers(line.replace("GET /health", "GET /items"), ts)
    assert not probe.answers(line.replace("GET", "POST"), ts)
    assert not probe.answers("checking /health of the database", ts)
    # an access log that writes the agent marks it whenever the line comes
    combined = f'{line} "-" "{agent}"'
    assert probe.answers(combined, ts + 3600)


def test_a_probe_of_the_root_path_matches_only_the_root(server: int) -> None:
    probe = HttpProbe(f"http://127.0.0.1:{server}/")
    assert asyncio.run(probe.check()).ok
    [(ts, line, _)] = LOGGED
    assert probe.answers(line, ts)
    assert probe.answers(" GET / 200 in 12ms", ts)  # Next.js' dev server
    assert not probe.answers(" GET /api/items 200 in 12ms", ts)
    assert not probe.answers("compiled /app/page in 120ms", ts)


def test_a_unit_s_readiness_and_liveness_both_count_and_only_http_ones(server: int) -> None:
    probes = UnitProbes(Probe(kind="http", url=f"http://127.0.0.1:{server}/ready"),
                        Probe(kind="http", url=f"http://127.0.0.1:{server}/live"))
    probes.restart()
    assert not probes.answers('"GET /ready HTTP/1.1" 200 -', time.time())  # none sent yet
    asyncio.run(probes.readiness())
    asyncio.run(probes.liveness())
    for ts, line, _ in LOGGED:
        assert probes.answers(line, ts), line
    tcp = UnitProbes(Probe(kind="tcp", port=server), None)
    tcp.restart()
    asyncio.run(tcp.readiness())
    assert not tcp.answers('"GET / HTTP/1.1" 200 -', time.time())

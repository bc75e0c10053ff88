"""Readiness strategies against real listeners and commands, including failure details."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest

from neodev.config.model import Probe
from neodev.engine.runner import HealthReport
from neodev.health import ExecProbe, HttpProbe, ProbeTracker, TcpProbe, build_strategy
from neodev.protocol import Health
from tests.waiting import until_async


class Handler(BaseHTTPRequestHandler):
    calls = 0

    def do_GET(self) -> None:
        Handler.calls += 1
        if self.path == "/slow":
            time.sleep(2)
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "https://127.0.0.1:1/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, body = {"/ok": (200, b"fine"), "/down": (503, b"db unreachable"),
                        "/flaky": (200 if Handler.calls > 2 else 503, b"warming up")}.get(
            self.path, (404, b"nope"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Handler.calls = 0
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_http_probe_ok_and_wrong_status(http_server: str) -> None:
    result = await HttpProbe(f"{http_server}/ok").check()
    assert result.ok and result.detail == f"GET {http_server}/ok -> 200"
    result = await HttpProbe(f"{http_server}/down").check()
    assert not result.ok
    assert result.detail == f"GET {http_server}/down -> 503 (expected 200): db unreachable"
    assert (await HttpProbe(f"{http_server}/down", expect_status=503).check()).ok


async def test_http_probe_refused_and_timeout(http_server: str) -> None:
    port = closed_port()
    result = await HttpProbe(f"http://127.0.0.1:{port}/health").check()
    assert not result.ok and "ConnectError" in result.detail
    assert result.detail.startswith(f"GET http://127.0.0.1:{port}/health -> ")
    started = time.monotonic()
    result = await HttpProbe(f"{http_server}/slow", timeout=0.3).check()
    assert not result.ok and "no answer within 0.3s" in result.detail
    assert time.monotonic() - started < 1.5


async def test_http_probe_ignores_proxy_environment(http_server: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{closed_port()}")
    assert (await HttpProbe(f"{http_server}/ok").check()).ok


async def test_http_probe_does_not_follow_a_redirect(http_server: str) -> None:
    """A 3xx is the probe's answer: an http probe (built without TLS verification) is never
    led on to an https URL."""
    result = await HttpProbe(f"{http_server}/moved").check()
    assert not result.ok
    assert result.detail == f"GET {http_server}/moved -> 302 (expected 200)"
    assert (await HttpProbe(f"{http_server}/moved", expect_status=302).check()).ok


async def test_http_probe_over_https_verifies_the_certificate(tmp_path: Path) -> None:
    """TLS is set up for an https URL only, and then certificates are checked: a self-signed
    one fails the probe, naming why."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}/ok"
        result = await HttpProbe(url, timeout=5).check()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert not result.ok and "CERTIFICATE_VERIFY_FAILED" in result.detail, result.detail


async def test_tcp_probe() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await TcpProbe("127.0.0.1", port).check()
        assert result.ok and result.detail == f"TCP connect 127.0.0.1:{port} -> connected"
    finally:
        server.close()
        await server.wait_closed()
    result = await TcpProbe("127.0.0.1", port).check()
    assert not result.ok
    assert result.detail.startswith(f"TCP connect 127.0.0.1:{port} -> ")
    assert "refused" in result.detail.lower()


async def test_exec_probe_exit_codes_and_output(tmp_path: Path) -> None:
    assert (await ExecProbe(("true",)).check()).ok
    result = await ExecProbe(("sh", "-c", "echo 'no response'; exit 2")).check()
    assert not result.ok and result.detail == "exec sh -c echo 'no response'; exit 2 -> " \
                                              "exit 2: no response"
    result = await ExecProbe(("no-such-probe-command-xyz",)).check()
    assert not result.ok and "cannot run" in result.detail
    (tmp_path / "marker").write_text("x")
    result = await ExecProbe(("ls", "marker"), cwd=tmp_path).check()
    assert result.ok


async def test_exec_probe_timeout_kills_its_whole_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    probe = ExecProbe(("sh", "-c", f"sleep 30 & echo $! > {pidfile}; wait"), timeout=0.5)
    started = time.monotonic()
    result = await probe.check()
    assert not result.ok and "killed after 0.5s timeout" in result.detail
    assert time.monotonic() - started < 3
    child = int(pidfile.read_text())
    await until_async(lambda: not psutil.pid_exists(child)
                      or psutil.Process(child).status() == psutil.STATUS_ZOMBIE,
                      f"the end of the probe's child {child}", 5,
                      retry_on=(psutil.NoSuchProcess,))  # it may end between the two looks


def decided(report: HealthReport) -> bool:
    return report.health in (Health.HEALTHY, Health.UNHEALTHY)


async def test_tracker_over_a_real_http_endpoint(http_server: str) -> None:
    probe = Probe(kind="http", url=f"{http_server}/flaky", interval=0.05, retries=5)
    tracker = ProbeTracker(build_strategy(probe), probe)
    report = await until_async(tracker.observe, "a healthy or unhealthy report", 10, ok=decided,
                               interval=probe.interval)  # an attempt per interval
    assert report.health is Health.HEALTHY
    assert Handler.calls == 3
    down = Probe(kind="http", url=f"{http_server}/down", interval=0.05, retries=2)
    tracker = ProbeTracker(build_strategy(down), down)
    report = await until_async(tracker.observe, "a healthy or unhealthy report", 10, ok=decided,
                               interval=down.interval)
    assert report.health is Health.UNHEALTHY
    assert "503 (expected 200): db unreachable (failure 2/2)" in report.detail

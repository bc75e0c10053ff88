"""Readiness strategies: one interface for every kind of check, containers and processes alike.

A strategy makes one attempt and says what it tried and what came back (`ProbeResult`); it never
decides whether the unit is healthy — `ProbeTracker` (tracker.py) turns a series of attempts
into a `Health` with Docker's interval / retries / start_period semantics. Strategies are built
from the config model's `Probe` with `build_strategy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from neodev import __version__
from neodev.command import run_command
from neodev.config.model import Probe
from neodev.errors import ProcessError

_DETAIL_LIMIT = 300
PROBE_AGENT = "neodev-probe"
"""The User-Agent of neodev's http probes (with its version): an access log that writes the
agent marks its probe lines beyond doubt, and an app may skip logging them."""
ANSWER_GRACE = 1.0
"""Seconds after a probe's answer during which a line naming its request still answers it:
an app logs a request while or just after serving it, and the line reaches neodev a moment
later (a pipe, Docker's log stream)."""
EARLY_SLACK = 0.05
"""A line stamped this much before the probe was sent still counts (clock rounding)."""
WINDOWS_KEPT = 4
"""A probe's latest request windows kept to judge lines by (they overlap within the grace)."""


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one attempt."""

    ok: bool
    detail: str
    """What was tried and what came back, e.g. `GET http://127.0.0.1:8080/health -> 503`."""


class Strategy(Protocol):
    """One readiness strategy: `check()` makes one bounded attempt."""

    def describe(self) -> str:
        """A short description of the check, e.g. `GET http://127.0.0.1:8080/health`."""
        ...

    async def check(self) -> ProbeResult:
        """Make one attempt. Never raises for an expected failure; returns ok=False instead."""
        ...


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _DETAIL_LIMIT else text[:_DETAIL_LIMIT] + "…"


class HttpProbe:
    """GET a URL and compare the status code.

    `trust_env=False`: an `HTTP(S)_PROXY` in the environment must not capture local probes
    (reference §9).
    """

    def __init__(self, url: str, expect_status: int = 200, timeout: float = 5.0) -> None:
        self.url = url
        self.expect_status = expect_status
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None
        target = urlsplit(url)
        path = (target.path or "/") + (f"?{target.query}" if target.query else "")
        # The request line as access logs write it: `GET /health HTTP/1.1`, `GET /health 200`
        # (the path alone, not a longer one that starts with it: /health, not /healthz).
        self._request = re.compile(rf"\bGET\s+{re.escape(path)}(?=[\s\"?]|$)")
        self._windows: deque[list[float]] = deque(maxlen=WINDOWS_KEPT)
        """[sent, answered] wall-clock times of the latest attempts (answered: inf while
        in flight)."""

    def _http(self) -> httpx.AsyncClient:
        # One client per probe: building a client (and its SSL context) costs milliseconds of
        # CPU, which adds up when a probe runs every second for the life of the daemon. No
        # keep-alive: each attempt opens a fresh connection, as a person's request would.
        # Certificates are verified for an https URL only: loading the CA bundle costs a
        # client 0.7-3 MiB of the daemon's memory, and a plain-http probe never uses TLS. That
        # holds because redirects are not followed (a 3xx is the answer, compared with
        # expect_status): an http probe can never be led to an unverified https URL.
        if self._client is None:
            self._client = httpx.AsyncClient(
                trust_env=False, timeout=self.timeout,
                limits=httpx.Limits(max_keepalive_connections=0), follow_redirects=False,
                verify=httpx.URL(self.url).scheme == "https",
                headers={"User-Agent": f"{PROBE_AGENT}/{__version__}"})
        return self._client

    def answers(self, line: str, ts: float) -> bool:
        """Whether an output line (kept at wall-clock `ts`) is the app's log of one of this
        probe's requests: it carries the probe's User-Agent, or it names the probe's request
        (`GET <path>`) and came while a request was in flight or within `ANSWER_GRACE` of its
        answer. Many access logs omit the agent (Python's http.server, the common log
        format), so the request and its time decide; a person's own request of the same path
        in that second is hidden with them, and a line held back longer (a block-buffered
        stdout) is shown — never the reverse."""
        if PROBE_AGENT in line:
            return True
        if "GET" not in line or self._request.search(line) is None:
            return False
        return any(sent - EARLY_SLACK <= ts <= answered + ANSWER_GRACE
                   for sent, answered in self._windows)

    def describe(self) -> str:
        return f"GET {self.url} (expect {self.expect_status})"

    async def check(self) -> ProbeResult:
        tried = f"GET {self.url}"
        window = [time.time(), math.inf]
        self._windows.append(window)
        try:
            response = await self._http().get(self.url)
        except httpx.TimeoutException:
            return ProbeResult(False, f"{tried} -> no answer within {self.timeout:g}s")
        except httpx.HTTPError as exc:
            return ProbeResult(False, f"{tried} -> {type(exc).__name__}: {exc or 'failed'}")
        finally:
            window[1] = time.time()
        ok = response.status_code == self.expect_status
        detail = f"{tried} -> {response.status_code}"
        if not ok:
            detail += f" (expected {self.expect_status})"
            body = _clip(response.text)
            if body:
                detail += f": {body}"
        return ProbeResult(ok, detail)


class TcpProbe:
    """Open (and close) a TCP connection."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout

    def describe(self) -> str:
        return f"TCP connect {self.host}:{self.port}"

    async def check(self) -> ProbeResult:
        tried = f"TCP connect {self.host}:{self.port}"
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout)
        except TimeoutError:
            return ProbeResult(False, f"{tried} -> no answer within {self.timeout:g}s")
        except OSError as exc:
            # asyncio's message is "Connect call failed (...)": the errno says what happened.
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            return ProbeResult(False, f"{tried} -> {reason}")
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return ProbeResult(True, f"{tried} -> connected")


class ExecProbe:
    """Run a command on the host; exit status 0 means ready. Killed (whole group) on timeout."""

    def __init__(self, command: tuple[str, ...], timeout: float = 5.0,
                 cwd: str | os.PathLike[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        if not command:
            raise ProcessError("exec probe has an empty command; give an argv like "
                               "[\"pg_isready\", \"-h\", \"127.0.0.1\"]")
        self.command = command
        self.timeout = timeout
        self.cwd = cwd
        self.env = env

    def describe(self) -> str:
        return "exec " + " ".join(self.command)

    async def check(self) -> ProbeResult:
        tried = "exec " + " ".join(self.command)
        try:
            done = await run_command(self.command, timeout=self.timeout, cwd=self.cwd,
                                     env=self.env, merge_stderr=True)
        except OSError as exc:
            return ProbeResult(False, f"{tried} -> cannot run: {exc.strerror or exc}")
        if done.timed_out:
            return ProbeResult(False, f"{tried} -> killed after {self.timeout:g}s timeout")
        output = _clip(done.output)
        detail = f"{tried} -> exit {done.returncode}" + (f": {output}" if output else "")
        return ProbeResult(done.returncode == 0, detail)


class LogLineProbe:
    """Ready once a line of the unit's output matched a regular expression.

    The driver feeds it every output line (`feed`); `reset()` forgets a previous match when the
    unit restarts.
    """

    def __init__(self, pattern: str) -> None:
        try:
            self.regex = re.compile(pattern)
        except re.error as exc:
            raise ProcessError(f"log probe pattern {pattern!r} is not a valid regular "
                               f"expression: {exc}") from exc
        self.matched: str | None = None
        self.last_line: str | None = None

    def describe(self) -> str:
        return f"log line matching /{self.regex.pattern}/"

    def feed(self, line: str) -> None:
        """Offer one output line."""
        self.last_line = line
        if self.matched is None and self.regex.search(line):
            self.matched = line

    def reset(self) -> None:
        """Forget everything seen (the unit restarted)."""
        self.matched = None
        self.last_line = None

    async def check(self) -> ProbeResult:
        tried = f"wait for a log line matching /{self.regex.pattern}/"
        if self.matched is not None:
            return ProbeResult(True, f"{tried} -> matched: {_clip(self.matched)}")
        if self.last_line is None:
            return ProbeResult(False, f"{tried} -> no output yet")
        return ProbeResult(False, f"{tried} -> no match yet; last line: {_clip(self.last_line)}")


def build_strategy(probe: Probe, *, cwd: str | os.PathLike[str] | None = None,
                   env: dict[str, str] | None = None) -> Strategy:
    """The strategy object for a `Probe` from the plan.

    Args:
        probe: The probe as configured.
        cwd: Working directory for exec probes (a process unit's cwd).
        env: Environment for exec probes (None = inherit).

    Returns:
        An HttpProbe, TcpProbe, ExecProbe or LogLineProbe.

    Raises:
        ProcessError: The probe is incomplete, or of kind `docker` (only containers have it;
            the Docker driver reads Docker's own health status instead).
    """
    if probe.kind == "http":
        if not probe.url:
            raise ProcessError("http probe needs `url` (e.g. http://127.0.0.1:8080/health)")
        return HttpProbe(probe.url, probe.expect_status, probe.timeout)
    if probe.kind == "tcp":
        if probe.port is None:
            raise ProcessError("tcp probe needs `port`")
        return TcpProbe(probe.host, probe.port, probe.timeout)
    if probe.kind == "exec":
        return ExecProbe(probe.command, probe.timeout, cwd=cwd, env=env)
    if probe.kind == "log":
        if not probe.pattern:
            raise ProcessError("log probe needs `pattern` (a regular expression)")
        return LogLineProbe(probe.pattern)
    raise ProcessError(f"probe kind {probe.kind!r} is not available here; "
                       "valid for processes: http, tcp, exec, log")

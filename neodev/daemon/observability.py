"""Observability that wires itself: the telemetry library attached to a running environment.

- Prometheus targets: whenever the set of running units changes, the file_sd files in the
  directory the Prometheus container mounts are rewritten (`telemetry.targets`) — no hand-kept
  scrape list, no Prometheus restart.
- Logs to Loki: every kept line (already masked by the log store) is offered to the shipper
  (`telemetry.loki`), which batches, retries and drops the oldest with a count, never slowing
  the units or the API; its state is in `status`.
- URLs: Grafana, Prometheus and Loki, and a Grafana Explore link per unit, for status, the CLI
  (`neodev open`) and the dashboard.
- The wiring check (`GET /v1/wiring`, `neodev doctor`): every declared metrics target of a
  running unit is up in Prometheus (its HTTP API), Loki is ready and takes pushes, Grafana's
  provisioned datasources answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Literal

import httpx

from neodev.config.model import EnvironmentPlan
from neodev.engine.events import EventBus, StreamEnded
from neodev.protocol.documents import Telemetry, WiringCheck
from neodev.protocol.events import UnitChanged
from neodev.protocol.logs import LogRecord
from neodev.protocol.units import UnitRecord, UnitState
from neodev.telemetry.loki import LokiShipper, ShippedLine, loki_ready
from neodev.telemetry.targets import TargetWriter, scrape_address, target_groups, targets_dir
from neodev.telemetry.urls import (
    GRAFANA,
    LOKI,
    PROMETHEUS,
    PublishedPort,
    grafana_explore_url,
    grafana_url,
    loki_url,
    prometheus_url,
)

log = logging.getLogger("neodev.daemon")

CHECK_TIMEOUT = 5.0
"""Seconds one wiring request may take."""
DATASOURCES = ("neodev-prom", "neodev-loki")
"""The datasource uids provisioned in compose/grafana/provisioning/datasources."""


class Observability:
    """Targets, shipper, URLs and the wiring check of one environment.

    Args:
        plan: The environment.
        bus: The event bus (unit records tell which units run).
        published: The host port Docker published for (unit, container port).
        status_of: A unit's current record.
    """

    def __init__(self, plan: EnvironmentPlan, bus: EventBus, published: PublishedPort,
                 status_of: Callable[[str], UnitRecord]) -> None:
        self._plan = plan
        self._bus = bus
        self._published = published
        self._status_of = status_of
        directory = targets_dir(plan)
        self.writer = TargetWriter(directory, plan.units) if directory is not None else None
        loki = loki_url(plan)
        self.shipper = LokiShipper(loki, plan.project) if loki is not None else None
        self._tasks: list[asyncio.Task[None]] = []
        self._running: set[str] = set()
        self._dirty = asyncio.Event()
        self.target_error: str | None = None

    async def open(self) -> None:
        """Prepare the targets directory before any container starts, and start following."""
        if self.writer is not None:
            try:
                await asyncio.to_thread(self.writer.prepare)
                await asyncio.to_thread(self.writer.sync, [])  # a crashed daemon's leftovers
            except OSError as exc:
                self.target_error = str(exc)
                log.warning("Prometheus targets: %s", exc)
            self._tasks.append(asyncio.create_task(self._follow_units(), name="targets"))
            self._tasks.append(asyncio.create_task(self._write_targets(), name="targets-io"))
        if self.shipper is not None:
            self._tasks.append(asyncio.create_task(self.shipper.run(), name="loki-shipper"))

    async def close(self) -> None:
        if self.shipper is not None:
            await self.shipper.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.writer is not None:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self.writer.sync, [])  # nothing runs any more

    def offer(self, record: LogRecord) -> None:
        """One kept (masked) line, for Loki."""
        if self.shipper is not None:
            kind = self._plan.units[record.unit].kind.value
            self.shipper.offer(ShippedLine(record.unit, kind, record.stream, record.ts,
                                           record.line, record.level))

    # -- targets --------------------------------------------------------------------------

    async def _follow_units(self) -> None:
        sub = self._bus.subscribe(types=("unit",))
        try:
            while True:
                event = await sub.next()
                if isinstance(event, UnitChanged):
                    self._note(event.status)
                else:  # a resync: read every unit again
                    for name in self._plan.units:
                        self._note(self._status_of(name))
        except StreamEnded:
            return
        finally:
            sub.close()

    def _note(self, record: UnitRecord) -> None:
        running = record.state is UnitState.RUNNING
        if running != (record.name in self._running):
            (self._running.add if running else self._running.discard)(record.name)
            self._dirty.set()

    async def _write_targets(self) -> None:
        """One writer: bursts of changes become one sync (file I/O on a thread)."""
        assert self.writer is not None
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await asyncio.to_thread(self.writer.sync,
                                        target_groups(self._plan, sorted(self._running)))
                self.target_error = None
            except OSError as exc:
                self.target_error = str(exc)
                log.warning("Prometheus targets: %s", exc)

    # -- status ---------------------------------------------------------------------------

    def urls(self) -> dict[str, str | None]:
        return {"grafana": grafana_url(self._plan, self._published),
                "prometheus": prometheus_url(self._plan, self._published),
                "loki": loki_url(self._plan, self._published)}

    def explore_url(self, unit: str) -> str | None:
        grafana = grafana_url(self._plan, self._published)
        return None if grafana is None else grafana_explore_url(grafana, self._plan.project,
                                                                unit)

    def state(self) -> Telemetry:
        """For `GET /v1/status`: URLs, the shipper's state, the scraped units."""
        return Telemetry(urls=self.urls(),
                         logs={u: self.explore_url(u) for u in self._plan.units},
                         shipper=self.shipper.state() if self.shipper else None,
                         targets=tuple(sorted(u for u in self._running
                                              if scrape_address(self._plan, u) is not None)),
                         targets_error=self.target_error)

    # -- the wiring check -----------------------------------------------------------------

    async def check(self) -> list[WiringCheck]:
        """One line per piece of wiring: ok | warn | fail, with what was found."""
        async with httpx.AsyncClient(trust_env=False, timeout=CHECK_TIMEOUT) as http:
            checks = await self._check_targets(http)
            checks.append(await self._check_loki(http))
            checks.extend(await self._check_grafana(http))
        return checks

    def _running_service(self, service: tuple[str, int]) -> str | None:
        name = next((c.name for c in self._plan.containers.values()
                     if c.service == service[0]), None)
        if name is None:
            return None
        return name if self._status_of(name).state is UnitState.RUNNING else ""

    async def _check_targets(self, http: httpx.AsyncClient) -> list[WiringCheck]:
        declared = [u for u in self._plan.units if scrape_address(self._plan, u) is not None]
        if not declared:
            return [_line("metrics", "warn", "no unit declares a metrics endpoint")]
        prometheus = self._running_service(PROMETHEUS)
        url = prometheus_url(self._plan, self._published)
        if not prometheus or url is None:
            return [_line("metrics", "warn", "Prometheus is not running: targets not checked")]
        try:
            answer = (await http.get(f"{url}/api/v1/targets")).json()
            active = answer["data"]["activeTargets"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            return [_line("metrics", "fail", f"Prometheus API at {url}: {exc!r}")]
        checks = []
        for unit in declared:
            if self._status_of(unit).state is not UnitState.RUNNING:
                checks.append(_line("metrics", "warn", f"{unit}: not running, not scraped"))
                continue
            found = [t for t in active if t.get("labels", {}).get("unit") == unit
                     and t.get("labels", {}).get("project") == self._plan.project]
            if not found:
                checks.append(_line("metrics", "fail", f"{unit}: not a target of Prometheus "
                                    f"yet ({self.target_error or 'target file written'})"))
            elif all(t.get("health") == "up" for t in found):
                checks.append(_line("metrics", "ok", f"{unit}: up in Prometheus "
                                    f"({found[0].get('scrapeUrl')})"))
            elif all(t.get("health") == "unknown" for t in found):
                checks.append(_line("metrics", "warn", f"{unit}: a target of Prometheus, "
                                    "not scraped yet"))
            else:
                error = next((t.get("lastError") for t in found if t.get("lastError")), "")
                health = found[0].get("health")
                checks.append(_line("metrics", "fail", f"{unit}: {health} in Prometheus: "
                                    f"{error or 'no error given'}"))
        return checks

    async def _check_loki(self, http: httpx.AsyncClient) -> WiringCheck:
        loki = self._running_service(LOKI)
        url = loki_url(self._plan, self._published)
        if loki is None or url is None:
            return _line("logs", "warn", "no Loki in this profile: logs stay local")
        if not loki:
            return _line("logs", "warn", "Loki is not running: lines wait in the shipper's "
                         "queue (the oldest are dropped when it is full)")
        if not await loki_ready(url, http):
            return _line("logs", "fail", f"Loki at {url} is not ready")
        state = self.shipper.state() if self.shipper else None
        if state is not None and state.rejected:
            return _line("logs", "fail", f"Loki refused {state.rejected} lines: "
                         f"{state.last_rejection}")
        sent = f"{state.sent} lines accepted" if state else "no shipper"
        return _line("logs", "ok", f"Loki at {url} is ready; {sent}")

    async def _check_grafana(self, http: httpx.AsyncClient) -> list[WiringCheck]:
        grafana = self._running_service(GRAFANA)
        url = grafana_url(self._plan, self._published)
        if grafana is None or url is None:
            return [_line("grafana", "warn", "no Grafana in this profile")]
        if not grafana:
            return [_line("grafana", "warn", "Grafana is not running: datasources not checked")]
        variables = self._plan.variables
        auth = (variables.get("GRAFANA_ADMIN_USER") or "admin",
                variables.get("GRAFANA_ADMIN_PASSWORD") or "")
        checks = []
        for uid in DATASOURCES:
            try:
                answer = await http.get(f"{url}/api/datasources/uid/{uid}/health", auth=auth)
            except httpx.HTTPError as exc:
                checks.append(_line("grafana", "fail", f"datasource {uid}: {exc!r}"))
                continue
            ok = answer.status_code == 200
            checks.append(_line("grafana", "ok" if ok else "fail",
                                f"datasource {uid}: HTTP {answer.status_code} "
                                f"{answer.text[:200]}".strip()))
        return checks


def _line(name: str, status: Literal["ok", "warn", "fail"], detail: str) -> WiringCheck:
    return WiringCheck(name, status, detail)

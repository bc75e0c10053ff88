"""What the dashboard knows about the environment: the fold of the daemon's event stream.

Kept apart from the widgets so it has one job: apply events (snapshots, unit records, reload
phases, connection changes) and answer what the screen shows — the units in order, a minute of
CPU and memory per unit for the sparklines, the Docker engine's state as the units report it,
and the problems to show once each (root causes, not every dependent's repetition).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from neodev.client.wire import Connection
from neodev.protocol.events import Event, Snapshot, UnitChanged, fold
from neodev.protocol.units import UnitRecord, UnitState

HISTORY = 30
"""Samples kept per unit for the sparklines: a minute at the daemon's 2 s stats interval."""
SPARKS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Problem:
    """Something to tell the person once: a unit failed, and why."""

    unit: str
    text: str


@dataclass
class EnvironmentView:
    """The client's fold of the event stream."""

    units: dict[str, UnitRecord] = field(default_factory=dict)
    connected: bool = False
    connection_detail: str = "connecting…"
    instance: str | None = None
    seq: int = 0
    cpu: dict[str, deque[float]] = field(default_factory=dict)
    memory: dict[str, deque[int]] = field(default_factory=dict)
    told: set[str] = field(default_factory=set)
    """Units whose current failure was told (see `problems_to_tell`)."""

    def apply(self, item: Event | Connection) -> list[str]:
        """Fold one item in; returns the names of the units whose record changed."""
        if isinstance(item, Connection):
            self.connected = item.connected
            self.connection_detail = item.detail or ("connected" if item.connected
                                                     else "disconnected")
            return []
        self.seq = item.seq
        if isinstance(item, Snapshot):
            self.instance = item.instance
            fold(self.units, item)
            return list(self.units)
        if isinstance(item, UnitChanged):
            fold(self.units, item)
            record = item.status
            if "cpu_percent" in item.changed and record.cpu_percent is not None:
                self.cpu.setdefault(record.name, deque(maxlen=HISTORY)).append(
                    record.cpu_percent)
            if "memory_bytes" in item.changed and record.memory_bytes is not None:
                self.memory.setdefault(record.name, deque(maxlen=HISTORY)).append(
                    record.memory_bytes)
            return [record.name]
        return []

    def docker_state(self) -> str:
        """`ok`, `unreachable` or `unknown`, as the container units report it."""
        containers = [u for u in self.units.values() if u.kind == "container"]
        if any(u.engine_outage for u in containers):
            return "unreachable"
        if any(u.state is UnitState.RUNNING for u in containers):
            return "ok"
        return "unknown"

    def problems(self) -> list[Problem]:
        """Units that are a problem, as the engine decided (`UnitRecord.problem`), with their
        own reason; dependents held back by them are not problems of their own."""
        return [Problem(record.name, record.problem) for record in self.units.values()
                if record.problem]

    def problems_to_tell(self) -> list[Problem]:
        """The problems not told yet: once per failure, not once per retry (a crash loop's
        reason changes with its count and countdown). A unit that recovers is forgotten, so
        its next failure is told again."""
        problems = self.problems()
        self.told &= {problem.unit for problem in problems}
        fresh = [problem for problem in problems if problem.unit not in self.told]
        self.told.update(problem.unit for problem in fresh)
        return fresh

    def sparkline(self, unit: str, width: int = 8) -> str:
        """The last `width` CPU samples of a unit as block characters."""
        samples = list(self.cpu.get(unit, ()))[-width:]
        if not samples:
            return ""
        top = max(max(samples), 1.0)
        return "".join(SPARKS[min(int(s / top * (len(SPARKS) - 1)), len(SPARKS) - 1)]
                       for s in samples)

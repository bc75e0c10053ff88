"""A unit's observable status, and the readiness verdicts `start --wait` reports.

`UnitStatus` is what `neodev status` prints and what the dashboard shows; the engine keeps one
per unit and changes it only through events, so the snapshot and the stream never disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from neodev.engine.events import Health, UnitState

FINAL_STATES = frozenset({UnitState.STOPPED, UnitState.EXITED, UnitState.CRASHED})


@dataclass
class UnitStatus:
    name: str
    kind: str
    state: UnitState = UnitState.PENDING
    health: Health = Health.NONE
    reason: str = ""
    health_detail: str = ""
    exit_code: int | None = None
    restarts: int = 0
    started_at: float | None = None
    """Wall-clock time the current run began (None while not running)."""
    adopted: bool = False
    cpu_percent: float | None = None
    memory_bytes: int | None = None
    ever_running: bool = False
    failures: int = 0
    """Consecutive failed runs (failed starts and non-zero exits); reset by a stable run."""
    start_failed: bool = False
    """The latest attempt failed before the unit ran (missing image, cwd, command...)."""
    last_reload: str = ""
    """The outcome of the latest hot reload, with its cause."""

    @property
    def ready(self) -> bool:
        """Running, and healthy when the unit has a readiness check."""
        return self.state is UnitState.RUNNING and self.health in (Health.HEALTHY, Health.NONE)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = str(self.state)
        data["health"] = str(self.health)
        data["ready"] = self.ready
        return data


@dataclass(frozen=True)
class ReadyVerdict:
    """Why one unit is, or is not, ready at the end of a wait."""

    unit: str
    ok: bool
    state: str
    health: str
    reason: str = ""
    last_logs: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

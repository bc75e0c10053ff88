"""Hot reload: a change batch -> optional build -> restart -> ready, with bursts coalesced.

While a unit is reloading, further change batches are merged into one pending set; when the
current reload ends, exactly one more reload runs for everything that arrived meanwhile. A
failed build keeps the old process running and publishes the build output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from neodev.engine.events import LogLine, ReloadEvent

if TYPE_CHECKING:
    from neodev.engine.supervisor import Engine

READY_TIMEOUT = 120.0
"""How long a reloaded unit may take to become ready before the reload is reported failed."""


@runtime_checkable
class Buildable(Protocol):
    """A runner that can run its unit's build step (process runners with `build` set)."""

    async def build(self) -> BuildOutcome: ...


class BuildOutcome(Protocol):
    ok: bool
    output: str
    duration: float


@dataclass
class _UnitReloadState:
    running: bool = False
    pending: list[str] = field(default_factory=list)
    pending_since: float | None = None


class ReloadCoordinator:
    """Serialises reloads per unit and coalesces changes that arrive during one."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._units: dict[str, _UnitReloadState] = {}
        self.completed: dict[str, int] = {}
        """Reloads finished per unit (restarts actually performed), for tests and status."""

    async def request(self, unit: str, files: list[str], seen_at: float | None) -> None:
        """Reload `unit` for `files`; returns at once if a reload is already running."""
        state = self._units.setdefault(unit, _UnitReloadState())
        seen = seen_at if seen_at is not None else self._engine.clock()
        if state.running:
            state.pending.extend(f for f in files if f not in state.pending)
            state.pending_since = state.pending_since or seen
            return
        state.running = True
        try:
            batch, since = files, seen
            while batch:
                await self._reload_once(unit, batch, since)
                batch, since = state.pending, state.pending_since or self._engine.clock()
                state.pending, state.pending_since = [], None
        finally:
            state.running = False

    async def _reload_once(self, unit: str, files: list[str], seen_at: float) -> None:
        engine = self._engine
        supervisor = engine.supervisors[unit]
        shown = tuple(sorted(files)[:20])
        cause = _cause(files)
        self._announce(ReloadEvent(unit, phase="triggered", files=shown,
                                   detail=f"{len(files)} file(s) changed"),
                       f"reload: {cause} changed")
        runner = supervisor.runner
        if getattr(supervisor.spec, "build", None) and isinstance(runner, Buildable):
            self._announce(ReloadEvent(unit, phase="building", files=shown), "reload: building")
            outcome = await runner.build()
            if not outcome.ok:
                output = _tail(outcome.output)
                self._announce(ReloadEvent(unit, phase="build_failed", files=shown,
                                           duration=outcome.duration, detail=output),
                               f"reload: build failed after {outcome.duration:.1f}s, the "
                               f"previous process keeps running:\n{output}")
                supervisor.status.last_reload = f"build failed ({cause}): {_last_words(output)}"
                return
        await supervisor.restart()
        verdicts = await engine.wait_ready([unit], READY_TIMEOUT)
        duration = engine.clock() - seen_at
        self.completed[unit] = self.completed.get(unit, 0) + 1
        ok = verdicts[0].ok
        summary = (f"restarted and ready {duration:.2f}s after the change" if ok
                   else f"restarted but not ready: {verdicts[0].reason}")
        self._announce(ReloadEvent(unit, phase="restarted" if ok else "failed", files=shown,
                                   duration=duration, detail="" if ok else verdicts[0].reason),
                       f"reload: {summary}")
        supervisor.status.last_reload = f"{summary} ({cause})"

    def _announce(self, event: ReloadEvent, line: str) -> None:
        """Publish the reload event, and the same news as neodev's own lines in the unit's log
        (so `neodev logs -f` shows reloads between the process's output)."""
        self._engine.publish(event)
        for text in line.splitlines():
            self._engine.publish(LogLine(event.unit, line=text, stream="neodev"))


def _last_words(output: str) -> str:
    """The build's last own line (drivers may append a line like `[build exited with code 1]`)."""
    lines = [line for line in output.splitlines() if line.strip()]
    own = [line for line in lines if not line.startswith("[")]
    return (own or lines or ["no output"])[-1]


def _cause(files: list[str]) -> str:
    names = sorted(files)
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _tail(output: str, lines: int = 30) -> str:
    return "\n".join(output.splitlines()[-lines:])

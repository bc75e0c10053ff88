"""Hot reload: a change batch -> optional build -> restart -> ready, with bursts coalesced.

While a unit is reloading, further change batches are merged into one pending set; when the
current reload ends, exactly one more reload runs for everything that arrived meanwhile. A
failed build keeps the old process running and publishes the build output. A unit that is not
meant to run (stopped by a person) is not reloaded: its watcher's changes are ignored.
The reported reload time runs from the file event to the first successful readiness check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from neodev.engine.context import UnitContext
from neodev.engine.supervisor import UnitSupervisor
from neodev.engine.verdicts import Readiness
from neodev.protocol import ReloadPhase, ReloadRecord

READY_TIMEOUT = 120.0
"""How long a reloaded unit may take to become ready before the reload is reported failed."""
SHOWN_FILES = 20
"""Changed files named in a reload's events (the count is always given)."""


@dataclass
class _UnitReloadState:
    running: bool = False
    pending: list[str] = field(default_factory=list)
    pending_since: float | None = None


class ReloadCoordinator:
    """Serialises reloads per unit and coalesces changes that arrive during one."""

    def __init__(self, supervisors: Mapping[str, UnitSupervisor], readiness: Readiness,
                 ctx: UnitContext) -> None:
        self._supervisors = supervisors
        self._readiness = readiness
        self._ctx = ctx
        self._units: dict[str, _UnitReloadState] = {}
        self.completed: dict[str, int] = {}
        """Reloads finished per unit (restarts actually performed), for tests and status."""
        self.ignored: dict[str, int] = {}
        """Change batches ignored per unit because it was not meant to run."""

    async def request(self, unit: str, files: list[str], seen_at: float | None,
                      cause: str | None = None) -> None:
        """Reload `unit` for `files` (or for `cause`, e.g. a person asked); returns at once if
        a reload is already running (the files are then merged into exactly one more)."""
        if not self._supervisors[unit].wanted:
            self.ignored[unit] = self.ignored.get(unit, 0) + 1
            return
        state = self._units.setdefault(unit, _UnitReloadState())
        seen = seen_at if seen_at is not None else self._ctx.clock()
        if state.running:
            state.pending.extend(f for f in files if f not in state.pending)
            state.pending_since = state.pending_since or seen
            return
        state.running = True
        try:
            batch, since, why = files, seen, cause
            while (batch or why) and self._supervisors[unit].wanted:
                await self._reload_once(unit, batch, since, why or _cause(batch))
                batch, since, why = state.pending, state.pending_since or self._ctx.clock(), None
                state.pending, state.pending_since = [], None
        finally:
            state.running = False

    async def _reload_once(self, unit: str, files: list[str], seen_at: float,
                           cause: str) -> None:
        supervisor = self._supervisors[unit]
        shown = tuple(sorted(files)[:SHOWN_FILES])
        what = f"{cause} changed" if files else cause
        self._announce(unit, "triggered", shown, f"reload: {what}",
                       detail=f"{len(files)} file(s) changed" if files else cause)
        runner = supervisor.runner
        if runner.can_build:
            self._announce(unit, "building", shown, "reload: building")
            outcome = await runner.build()
            if not outcome.ok:
                output = self._ctx.logs.mask(_tail(outcome.output))
                self._announce(unit, "build_failed", shown,
                               f"reload: build failed after {outcome.duration:.1f}s, the "
                               f"previous process keeps running:\n{output}",
                               duration=outcome.duration, detail=output)
                supervisor.set_last_reload(ReloadRecord(
                    "build_failed", cause, shown, outcome.duration, _last_words(output),
                    self._ctx.wall()))
                return
        await supervisor.restart()
        [verdict] = await self._readiness.wait([unit], READY_TIMEOUT)
        duration = self._ctx.clock() - seen_at
        self.completed[unit] = self.completed.get(unit, 0) + 1
        if verdict.ok:
            summary = f"restarted and ready {duration:.2f}s after the change"
            record = ReloadRecord("ok", cause, shown, duration, "", self._ctx.wall())
        else:
            summary = f"restarted but not ready: {verdict.reason}"
            record = ReloadRecord("failed", cause, shown, duration, verdict.reason,
                                  self._ctx.wall())
        self._announce(unit, "restarted" if verdict.ok else "failed", shown,
                       f"reload: {summary}", duration=duration,
                       detail="" if verdict.ok else verdict.reason)
        supervisor.set_last_reload(record)

    def _announce(self, unit: str, phase: str, files: tuple[str, ...], line: str, *,
                  duration: float | None = None, detail: str = "") -> None:
        """Publish the reload phase, and the same news as neodev's own lines in the unit's log
        (so `neodev logs -f` shows reloads between the process's output)."""
        self._ctx.bus.emit(ReloadPhase, unit=unit, phase=phase, files=files, duration=duration,
                           detail=detail)
        now = self._ctx.wall()
        for text in line.splitlines():
            self._ctx.logs.append(unit, text, "neodev", now)


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

"""Readiness verdicts: is a unit ready, failed for good, or still on its way?

`start --wait`, a reload and the dashboard's start-up view all ask the same question, so it is
answered once, here, from the units' status records. A unit held back by a failed dependency
names the root cause's unit (`held back by postgres`) instead of repeating its error: the root
cause is reported once, by the unit that has it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from neodev.config.model import RestartPolicy, UnitSpec
from neodev.engine.context import UnitContext
from neodev.protocol import Health, UnitRecord, UnitState, Verdict
from neodev.timing import Deadline

CRASH_LOOP_FAILURES = 3
"""Consecutive failures from which a unit is shown as crash-looping (and `--wait` gives up)."""
LAST_LINES = 10
"""Output lines a failed verdict carries."""


class Readiness:
    """Verdicts over the units of one engine."""

    def __init__(self, specs: Mapping[str, UnitSpec], ctx: UnitContext) -> None:
        self._specs = specs
        self._ctx = ctx

    def verdict(self, name: str) -> Verdict | None:
        """The unit's verdict if it has one yet: ready, or failed for good; None while open.

        An optional unit that failed is `ok` with `optional` set: the environment does not
        need it, and the reason still says why it is not running.
        """
        found = self._verdict(name)
        if found is not None and not found.ok and self._specs[name].optional:
            return replace(found, ok=True, optional=True)
        return found

    def _verdict(self, name: str) -> Verdict | None:
        status = self._ctx.status_of(name)
        spec = self._specs[name]
        if status.ready:
            return self._make(status, ok=True)
        if status.state is UnitState.EXITED and status.exit_code == 0 and \
                spec.restart is not RestartPolicy.ALWAYS:
            return self._make(status, ok=True)
        failing = status.state in (UnitState.CRASHED, UnitState.BACKOFF)
        failed_for_good = (
            (status.state is UnitState.CRASHED and spec.restart is RestartPolicy.NO)
            or (status.state is UnitState.RUNNING and status.health is Health.UNHEALTHY)
            # The restart policy keeps trying in the background, but a wait gives up at once
            # on what will not fix itself soon: a unit that cannot even start, or a crash loop.
            or (failing and (status.start_failed or status.crash_loop))
        )
        if failed_for_good:
            return self._make(status, ok=False)
        root = self.failed_root(name)
        if root is not None:
            return Verdict(unit=name, ok=False, state=str(status.state),
                           health=str(status.health), reason=f"held back by {root}",
                           kind="held_back", held_back_by=root)
        return None

    def failed_root(self, name: str) -> str | None:
        """The failed unit (at the root of the chain) that keeps `name` from starting."""
        if self._ctx.status_of(name).state is not UnitState.PENDING:
            return None
        for dep in self._specs[name].depends_on:
            if condition_met(dep.condition.value, self._ctx.status_of(dep.service)):
                continue
            verdict = self._verdict(dep.service)
            if verdict is not None and not verdict.ok:
                return verdict.held_back_by or dep.service
        return None

    async def wait(self, names: Iterable[str], timeout: float) -> list[Verdict]:
        """Wait until every named unit is ready, one has failed for good, or `timeout` passes.

        A failed unit does not end the wait for the others early: the wait ends when each unit
        has a verdict, so the report says exactly what is up and what is not.
        """
        pending = set(names)
        deadline = Deadline(timeout, self._ctx.clock)
        verdicts: dict[str, Verdict] = {}
        while pending:
            for name in list(pending):
                verdict = self.verdict(name)
                if verdict is not None:
                    verdicts[name] = verdict
                    pending.discard(name)
            if not pending or deadline.passed:
                break
            await self._ctx.changes.wait_at_most(min(deadline.remaining(), 1.0))
        for name in pending:
            verdicts[name] = self.verdict(name) or self._timeout(name, timeout)
            if not verdicts[name].ok and self._specs[name].optional:
                verdicts[name] = replace(verdicts[name], ok=True, optional=True)
        return [verdicts[n] for n in sorted(verdicts)]

    def _timeout(self, name: str, timeout: float) -> Verdict:
        verdict = self._make(self._ctx.status_of(name), ok=False)
        return replace(verdict, reason=f"not ready after {timeout:.0f}s: {verdict.reason}",
                       kind="timeout")

    def _make(self, status: UnitRecord, *, ok: bool) -> Verdict:
        reason = status.reason
        if status.health is Health.UNHEALTHY:
            reason = f"unhealthy: {status.health_detail}".strip()
        elif status.state is UnitState.RUNNING and status.health is Health.STARTING:
            reason = f"health check still starting: {status.health_detail}".strip(": ")
        elif status.state is UnitState.RUNNING and not status.ready:
            reason = reason or "running, not settled yet"
        tail = () if ok else tuple(r.line for r in self._ctx.logs.tail(status.name, LAST_LINES))
        probe = status.health_detail if self._specs[status.name].readiness else ""
        return Verdict(unit=status.name, ok=ok, state=str(status.state),
                       health=str(status.health), reason=reason, kind=verdict_kind(status, ok),
                       last_probe=probe, last_logs=tail)


def verdict_kind(status: UnitRecord, ok: bool) -> str:
    """What a verdict on `status` is (`neodev.protocol.units.VERDICT_KINDS`); a wait that
    ends first calls it a timeout instead."""
    if ok:
        return "ready" if status.ready else "completed"
    if status.start_failed:
        return status.start_failure or "start_failed"
    if status.crash_loop:
        return "crash_loop"
    if status.health is Health.UNHEALTHY:
        return "unhealthy"
    if status.state in (UnitState.CRASHED, UnitState.EXITED, UnitState.BACKOFF):
        return "exited"
    return "timeout"


def condition_met(condition: str, status: UnitRecord) -> bool:
    """Whether a dependency in `status` satisfies `condition` (started | healthy |
    completed_successfully)."""
    if condition == "started":
        return status.state is UnitState.RUNNING
    if condition == "healthy":
        return status.ready
    return status.state is UnitState.EXITED and status.exit_code == 0

"""What a unit waits for before it can start: its dependencies, or what cannot be had.

A supervisor waits for each dependency's condition and says which in its reason. A dependency
that is `unavailable` (its image cannot be had), or skipped because of one, makes the unit
skipped: it says so and why, and starts by itself once that one can. An unavailable unit waits
for its own start to become possible: until someone asks (start, restart) or the runner's cheap
look (`Runner.can_start`) finds what was missing — on a steady pace, never a busy loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from neodev.config.model import UnitSpec
from neodev.engine.context import UnitContext
from neodev.engine.runner import Runner
from neodev.engine.verdicts import condition_met
from neodev.errors import NeodevError
from neodev.protocol.units import UnitRecord, UnitState
from neodev.timing import Sleep, sleep_unless


@dataclass(frozen=True)
class Waiting:
    """Why a unit does not start yet, for its record."""

    reason: str
    unavailable: str = ""
    """What cannot be had, when a needed unit is unavailable (`image grafana/loki:3.7.2`)."""
    skipped_by: str = ""
    """That unavailable unit (at the root of the chain)."""


def waiting_for(service: str, condition: str, other: UnitRecord) -> Waiting:
    """Why a unit waits for its dependency `service` (whose record is `other`)."""
    root = other.name if other.state is UnitState.UNAVAILABLE else other.skipped_by
    if not root:
        return Waiting(f"waiting for {service} ({condition}); it is {other.state}")
    through = f"{service} waits for {root}, which" if root != service else root
    return Waiting(f"skipped: {through} is unavailable ({other.unavailable}); starts when it "
                   "can", other.unavailable, root)


async def wait_for_dependencies(spec: UnitSpec, ctx: UnitContext,
                                say: Callable[[Waiting], None],
                                note: Callable[[str, str], None]) -> None:
    """Until every dependency of `spec` meets its condition, saying why meanwhile."""
    waited = False
    for dep in spec.depends_on:
        while not condition_met(dep.condition.value, ctx.status_of(dep.service)):
            if not waited:
                note("waiting for dependencies",
                     ", ".join(f"{d.service} ({d.condition})" for d in spec.depends_on))
                waited = True
            say(waiting_for(dep.service, str(dep.condition), ctx.status_of(dep.service)))
            await ctx.changes.wait()
    if waited:
        note("dependencies met", "")


async def until_available(runner: Runner, wake: asyncio.Event, stopping: Callable[[], bool],
                          sleep: Sleep, pace: float) -> bool:
    """An unavailable unit's wait: False when someone asked for a start (`wake`) or a stop,
    True when the runner says it can start now — looked at every `pace` seconds."""
    wake.clear()
    while not stopping():
        await sleep_unless(wake, pace, sleep)
        if wake.is_set() or stopping():
            return False
        try:
            if await runner.can_start():
                return True
        except NeodevError:
            continue  # the engine is away: look again at the next pace
    return False

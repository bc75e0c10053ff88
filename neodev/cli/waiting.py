"""`start --wait`: the wait that shows its work, and the verdict that says why.

With `--logs` the units' lines are printed while the wait runs (prefixed like `neodev logs`,
masked by the daemon), then the verdict; without it, a unit that fails prints its last lines
under its verdict. The wait's failure kind (`WaitResult.failure`) picks the exit code
(`neodev.errors.WAIT_EXIT_CODES`). A host port found taken before anything started is a
verdict too (`port_taken`), so a script sees one shape whatever went wrong.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import click

from neodev.cli.render import format_log_line
from neodev.client import calls
from neodev.errors import WAIT_EXIT_CODES, PortConflictError, StartupFailed
from neodev.protocol.logs import LogGap, LogRecord
from neodev.protocol.units import Verdict, WaitResult

DRAIN_LINES = 10_000
"""Lines printed at most after the verdict that the stream had not delivered yet."""


def wait_showing_logs(socket: Path, services: Sequence[str], timeout: float, after: int,
                      to_stderr: bool) -> WaitResult:
    """Wait for the verdict while printing every unit's lines newer than id `after`."""
    import asyncio  # here: the short commands do not pay for it

    return asyncio.run(_wait_and_print(socket, services, timeout, after,
                                       _printer(to_stderr)))


def _printer(to_stderr: bool) -> Callable[[LogRecord | LogGap], None]:
    color = (sys.stderr if to_stderr else sys.stdout).isatty()
    width = [8]

    def show(item: LogRecord | LogGap) -> None:
        if isinstance(item, LogGap):
            click.echo(f"[{item.missed} lines were not kept]", err=True)
            return
        width[0] = max(width[0], len(item.unit))
        click.echo(format_log_line(item, width[0], color), err=to_stderr)
    return show


async def _wait_and_print(socket: Path, services: Sequence[str], timeout: float, after: int,
                          show: Callable[[LogRecord | LogGap], None]) -> WaitResult:
    import asyncio

    from neodev.client.aio import AsyncDaemonClient

    last = after

    async def pump() -> None:
        nonlocal last
        async for item in client.stream(calls.follow_logs(after=after, probes=False)):
            show(item)
            if isinstance(item, LogRecord):
                last = item.id

    async with AsyncDaemonClient(socket) as client:
        printing = asyncio.create_task(pump())
        try:
            result = await client.call(calls.wait(services, timeout))
        finally:
            printing.cancel()
            await asyncio.gather(printing, return_exceptions=True)
        # What the stream had not delivered when the verdict came: printed before it.
        for record in (await client.call(calls.logs(after=last, limit=DRAIN_LINES,
                                                         probes=False))).lines:
            show(record)
    return result


def port_conflict_result(error: PortConflictError) -> WaitResult:
    """A port found taken before the start: the verdict of the units that claim it."""
    units = error.units or ["(environment)"]
    reason = error.message.removeprefix("nothing was started:").strip()
    return WaitResult(ok=False, units=tuple(
        Verdict(unit=name, ok=False, state="pending", health="none", kind="port_taken",
                reason=f"not started, a host port is taken: {reason}") for name in units))


def startup_failed(result: WaitResult) -> StartupFailed:
    """The error `start --wait` ends with; its exit code is the failure kind's."""
    kind = result.failure or "start_failed"
    return StartupFailed(
        f"not healthy: {', '.join(result.failed)} — {kind}, exit "
        f"{WAIT_EXIT_CODES.get(kind, StartupFailed.exit_code)} (the rest keeps running; see "
        "`neodev logs` and `neodev status`)", kind=kind)

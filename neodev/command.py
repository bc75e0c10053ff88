"""An external command with a time limit: its own session, its whole group killed at the limit.

Exec probes, build commands and the cluster plan's kind/kubectl/docker calls all run a
command that must not outlive its time. Each runs here the same way: in a session of its own
(pgid == pid: it cannot reach the terminal, and everything it starts is in its group), its
output collected as it comes, and when the time is up SIGKILL goes to the whole process group
— the command and every child it started — so no grandchild is left holding a port or the
output pipes. What it printed until then is kept.

One implementation, async; `run_command_blocking` runs it on a private event loop for code
without one (the cluster plan runs in a worker thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

KILL_WAIT = 5.0
"""Seconds killed processes get to disappear, and their pipes to close (the kernel, not the
process, decides)."""
_READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Finished:
    """What a bounded command did."""

    returncode: int | None
    """Its exit status as asyncio reports it (-N: ended by signal N); None when killed at
    the time limit."""
    stdout: bytes
    stderr: bytes
    """Empty when stderr was merged into stdout."""
    duration: float
    """Seconds from the start to the end (or the kill)."""

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    @property
    def output(self) -> str:
        """stdout as text (invalid UTF-8 replaced)."""
        return self.stdout.decode("utf-8", "replace")


def signal_group(pgid: int, sig: int) -> None:
    """Send a signal to a whole process group; a group that is gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def run_command(argv: Sequence[str], *, timeout: float,
                      cwd: str | os.PathLike[str] | None = None,
                      env: Mapping[str, str] | None = None, stdin: bytes | None = None,
                      merge_stderr: bool = False) -> Finished:
    """Run `argv` to its end, or kill its whole process group after `timeout` seconds.

    Args:
        argv: The program and its arguments.
        timeout: Seconds it may run.
        cwd: Working directory (default: ours).
        env: Its whole environment (default: ours).
        stdin: Bytes to feed it (default: /dev/null).
        merge_stderr: Send stderr into stdout (one combined output, in order).

    Returns:
        Its exit status and output (the output until the kill when it timed out).

    Raises:
        OSError: it could not be started (FileNotFoundError: no such program).
    """
    started = time.monotonic()
    pipe = asyncio.subprocess.PIPE
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=None if env is None else dict(env),
        stdin=asyncio.subprocess.DEVNULL if stdin is None else pipe, stdout=pipe,
        stderr=asyncio.subprocess.STDOUT if merge_stderr else pipe, start_new_session=True)
    out, err = bytearray(), bytearray()
    parts = [_collect(proc.stdout, out), _collect(proc.stderr, err), proc.wait()]
    if stdin is not None:
        parts.append(_feed(proc.stdin, stdin))
    everything = asyncio.ensure_future(asyncio.gather(*parts))
    timed_out = False
    try:
        try:
            await asyncio.wait_for(asyncio.shield(everything), timeout)
        except TimeoutError:
            timed_out = True
            signal_group(proc.pid, signal.SIGKILL)
            # A process that left the group (setsid) may still hold the pipes: do not hang.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(everything), KILL_WAIT)
    finally:
        if not everything.done():  # cancelled, or a pipe holder outside the group
            if proc.returncode is None:
                signal_group(proc.pid, signal.SIGKILL)
            everything.cancel()
    return Finished(None if timed_out else proc.returncode, bytes(out), bytes(err),
                    time.monotonic() - started)


def run_command_blocking(argv: Sequence[str], *, timeout: float,
                         cwd: str | os.PathLike[str] | None = None,
                         env: Mapping[str, str] | None = None,
                         stdin: bytes | None = None) -> Finished:
    """`run_command` for code without an event loop (a private loop for the one command).

    Raises:
        OSError: it could not be started.
    """
    return asyncio.run(run_command(argv, timeout=timeout, cwd=cwd, env=env, stdin=stdin))


async def _collect(stream: asyncio.StreamReader | None, into: bytearray) -> None:
    """Read `stream` to its end into `into` (kept as it comes: a kill leaves what was read)."""
    if stream is None:
        return
    while chunk := await stream.read(_READ_CHUNK):
        into += chunk


async def _feed(stream: asyncio.StreamWriter | None, data: bytes) -> None:
    """Write `data` to the command's stdin and close it (a command that stops reading early
    is not an error: its exit status says how it went)."""
    if stream is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stream.write(data)
        await stream.drain()
    stream.close()

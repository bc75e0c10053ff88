"""The daemon process: `python -m neodev.daemon --workspace W --profile P`.

Spawned detached by `neodev start`. It takes the workspace lock, loads and validates the plan
(a config error is recorded for the CLI and ends the daemon before anything starts), binds the
control socket with mode 0600 — the only listener neodev opens — and serves the API until a
shutdown request or SIGTERM/SIGINT, which stop every unit first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import uvicorn

from neodev import __version__, ports
from neodev.config.model import EnvironmentPlan, network_name
from neodev.daemon.api import create_app
from neodev.daemon.environment import Environment
from neodev.daemon.instance import registered, watch_workspace
from neodev.errors import DaemonError, NeodevError
from neodev.instances.blocks import settle_ports
from neodev.instances.registry import read_instance
from neodev.paths import WorkspacePaths
from neodev.process.tree import become_subreaper
from neodev.rendezvous import (
    DaemonInfo,
    DaemonLock,
    record_startup_error,
    remove_stale,
    write_info,
)
from neodev.statefile import write_private


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers (on SIGTERM/SIGINT the daemon must stop every
    unit before the API goes away, which the handlers installed in `_serve_environment` do)
    and without its 100 ms tick (it polls `should_exit`; an idle daemon should sleep)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.exit_requested = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        await self.on_tick(0)  # once: sets the default headers
        await self.exit_requested.wait()


def bind_control_socket(path: Path) -> socket.socket:
    """Bind the Unix socket with mode 0600 from the first instant (umask, not chmod after), in
    a directory only this user can change (the runtime directory is created so)."""
    _ensure_private_directory(path.parent)
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old_umask)
    sock.listen(128)
    return sock


def _ensure_private_directory(directory: Path) -> None:
    """Create `directory` (mode 0700) when missing; refuse one that another user owns or others
    may write to: whoever can replace the socket there could answer in the daemon's name."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = directory.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise DaemonError(f"the daemon's socket directory {directory} is not private: it must "
                          f"belong to you (uid {os.getuid()}, it is {info.st_uid}) and be "
                          f"writable by you alone (mode {info.st_mode & 0o777:o}; use 0700)")


def teardown_plan(paths: WorkspacePaths, project: str) -> EnvironmentPlan:
    """A plan without units for `down` when the profile no longer loads: what runs is found
    by the compose project label, not by the configuration."""
    record = read_instance(paths)
    legacy = record is not None and record.legacy_project == project
    return EnvironmentPlan(profile="(teardown)", project=project, workspace=paths.root,
                           profile_file=paths.root / "profiles", network=network_name(project),
                           legacy_resources=legacy)


MAX_PLAN_BYTES = 64 * 1024 * 1024
"""More than any plan the configuration limits allow (neodev/config/limits.py)."""


class NoPlan(Exception):
    """Stdin closed without a plan: the spawning command ended first (it was interrupted).
    The daemon ends without having touched anything."""


def read_plan(paths: WorkspacePaths, profile: str, handed_over: EnvironmentPlan | None,
              teardown: str | None = None) -> EnvironmentPlan:
    """The plan the spawning command handed over, a teardown plan, or the profile loaded here
    when none was handed over."""
    if teardown is not None:
        return teardown_plan(paths, teardown)
    if handed_over is not None:
        return handed_over
    # Only here: loading a profile needs the compose reader and yaml, which a daemon handed
    # its plan as JSON (as `neodev start` does) never imports.
    from neodev.instances.resolve import resolve_plan

    return resolve_plan(paths, profile, dict(os.environ))


def receive_plan() -> EnvironmentPlan:
    """The plan the spawning command validated, from stdin (`neodev.client.spawn.hand_over_plan`).

    Raises:
        NoPlan: stdin was closed without a plan (the command ended before handing it over).
        DaemonError: what came on stdin is not a plan.
    """
    data = sys.stdin.buffer.read(MAX_PLAN_BYTES + 1)
    if not data:
        raise NoPlan
    if len(data) > MAX_PLAN_BYTES:
        raise DaemonError(f"the plan handed over on stdin is larger than {MAX_PLAN_BYTES} bytes")
    try:
        return EnvironmentPlan.model_validate_json(data)
    except ValueError as exc:
        raise DaemonError(f"the plan handed over on stdin is not valid: {exc}") from exc


def redirect_output(log: Path) -> None:
    """From now on, stdout and stderr go to the daemon's log (appended, 0600)."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


async def serve(paths: WorkspacePaths, profile: str, handed_over: EnvironmentPlan | None = None,
                teardown: str | None = None) -> int:
    lock = DaemonLock(paths)
    if not lock.acquire(timeout=1.0):  # a client may hold it for an instant, probing
        raise DaemonError(f"another neodev daemon already runs for {paths.root}")
    try:
        remove_stale(paths)
        # Orphaned grandchildren of our processes are re-parented to us, not to a pid 1 that
        # may never reap them (containers, CI): the process driver reaps them by pid.
        become_subreaper()
        plan = read_plan(paths, profile, handed_over, teardown)
        if teardown is None:
            plan = await asyncio.to_thread(settle_ports, paths, plan, ports.loopback_free)
            write_private(paths.project_file, plan.project)
        env = Environment(plan, paths)
        await env.open()
        async with registered(paths, plan, teardown is None):
            return await _serve_environment(env, paths, profile)
    finally:
        remove_stale(paths)
        lock.release()


async def _serve_environment(env: Environment, paths: WorkspacePaths, profile: str) -> int:
    server: _QuietServer | None = None

    def request_shutdown() -> None:
        env.bus.close()  # open streams (followers) end now, not after a grace period
        if server is not None:
            server.should_exit = True
            server.exit_requested.set()

    app = create_app(env, request_shutdown)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                            timeout_graceful_shutdown=3, date_header=False)
    server = _QuietServer(config)
    loop = asyncio.get_running_loop()
    stop_signal = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_signal.set)
    sock = bind_control_socket(paths.socket)
    me = psutil.Process()
    write_info(paths, DaemonInfo(pid=me.pid, create_time=me.create_time(),
                                 socket=str(paths.socket), profile=profile,
                                 workspace=str(paths.root), started_at=env.started_at,
                                 version=__version__, instance=env.plan.project))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    signalled = asyncio.create_task(stop_signal.wait())

    async def workspace_gone(_why: str) -> None:
        stop_signal.set()  # as SIGTERM: stop every unit, then leave

    watching = asyncio.create_task(watch_workspace(paths, workspace_gone))
    await asyncio.wait({serving, signalled}, return_when=asyncio.FIRST_COMPLETED)
    if signalled.done():
        # SIGTERM/SIGINT, or the workspace is gone: stop every unit, like `neodev stop`,
        # then leave.
        await env.engine.stop()
        request_shutdown()
    with contextlib.suppress(asyncio.CancelledError):
        await serving
    signalled.cancel()
    watching.cancel()
    await env.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="neodev-daemon")
    parser.add_argument("--workspace", required=True, type=Path)
    parser.add_argument("--profile", default="local")
    parser.add_argument("--plan-on-stdin", action="store_true",
                        help="Read the plan the spawning command validated from stdin (JSON).")
    parser.add_argument("--teardown", metavar="PROJECT", default=None,
                        help="Serve only `down` for this compose project (no profile needed).")
    args = parser.parse_args(argv)
    paths = WorkspacePaths(args.workspace.resolve())
    handed_over = None
    if args.plan_on_stdin:
        # Nothing in the workspace is touched before the plan is here: a command that finds
        # the profile invalid kills this process, which must leave no trace.
        try:
            handed_over = receive_plan()
        except NoPlan:
            return 0
        except NeodevError as exc:
            print(f"{exc.title}: {exc.message}", file=sys.stderr)
            return exc.exit_code
        paths.ensure_state_dir()
        redirect_output(paths.daemon_log)
    else:
        paths.ensure_state_dir()
    try:
        return asyncio.run(serve(paths, args.profile, handed_over, args.teardown))
    except NeodevError as exc:
        record_startup_error(paths, exc)
        print(f"{exc.title}: {exc.message}", file=sys.stderr)
        return exc.exit_code

if __name__ == "__main__":
    sys.exit(main())

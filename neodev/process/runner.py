"""The local process driver: one `ProcessRunner` per process unit (backend, frontend, router).

Each start spawns the command in its own session (`start_new_session=True`: pgid == pid, no
controlling terminal, so it cannot grab the TUI's terminal or get its Ctrl+C). Output is read
in chunks and split into bounded lines (`LineSplitter`), each handed to the sink — the daemon
masks it and keeps it in the engine's log store, which is the only copy. Stop is SIGTERM to
the whole group, a grace period, then SIGKILL to the group and to every survivor of a psutil
snapshot of the tree taken before the first signal (a child that left the group is still
found).

Exit codes: a process ended by a signal reports 128 + signal number (shell convention:
SIGTERM -> 143, SIGKILL -> 137), not asyncio's negative number.

When the leader exits on its own, whatever is left of its group is killed too (a reload or a
restart would otherwise find the port still taken by an orphaned grandchild).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from neodev.command import KILL_WAIT, run_command
from neodev.config.model import ProcessSpec, cwd_problem
from neodev.engine.lines import LineSplitter
from neodev.engine.runner import (
    BuildOutcome,
    HealthReport,
    LaunchResult,
    LogSink,
    Progress,
    Stats,
)
from neodev.errors import ProcessError
from neodev.health.unit import FIRST_PROBE_POLL, UnitProbes
from neodev.hostnet import bind_env
from neodev.pidfd import open_pidfd
from neodev.process.childwatch import use_pidfd_child_watcher
from neodev.process.pids import PidRegistry
from neodev.process.tree import (
    TreeSampler,
    group_members,
    kill_tree,
    send,
    snapshot,
    wait_gone,
)
from neodev.protocol import Health
from neodev.timing import Deadline, sleep_unless

_READ_CHUNK = 64 * 1024
_LEFTOVER_GRACE = 2.0
_DRAIN_TIMEOUT = 2.0
_EXIT_POLL = 0.25


def exit_code(returncode: int) -> int:
    """asyncio's returncode as a shell-style exit code (-N for signal N -> 128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


async def _returncode(proc: asyncio.subprocess.Process) -> int:
    """The return code as soon as the process exited.

    On Python 3.11 `Process.wait()` called before the exit resolves only once the child's
    pipes are closed too — never, while an orphaned grandchild holds them. So the exit itself
    is watched too: on Linux a pidfd becomes readable the moment the process ends (asyncio's
    child watcher records `returncode` right after); elsewhere `returncode` is polled.
    """
    loop = asyncio.get_running_loop()
    waiter = asyncio.ensure_future(proc.wait())
    ended = asyncio.Event()
    fd = open_pidfd(proc.pid)
    if fd is not None:
        loop.add_reader(fd, ended.set)
    spins = 0
    try:
        while True:
            signal_ = asyncio.ensure_future(ended.wait())
            # With a pidfd nothing is polled: an idle daemon is not woken for its processes.
            poll = None if fd is not None and not ended.is_set() else _EXIT_POLL
            done, _ = await asyncio.wait({waiter, signal_}, timeout=poll,
                                         return_when=asyncio.FIRST_COMPLETED)
            signal_.cancel()
            if waiter in done:
                return waiter.result()
            if proc.returncode is not None:
                return proc.returncode
            if ended.is_set():
                # The child watcher is about to record the code: in this turn of the loop when
                # it waits on a pidfd too, else once its thread gets the GIL.
                await asyncio.sleep(0 if spins < 3 else 0.001)
                spins += 1
    finally:
        if not waiter.done():
            waiter.cancel()
        if fd is not None:
            loop.remove_reader(fd)
            os.close(fd)


class ProcessRunner:
    """Runs one `ProcessSpec`; implements the engine's `Runner` protocol.

    Args:
        spec: The process unit.
        sink: Receives every output line: `sink(line, stream, timestamp)`.
        pid_registry: Where started process groups are recorded.
        resolve: Applied to every environment value, command argument and probe URL at each
            start: substitutes `@{service:port}` with the port Docker actually published.
        bind: The bind environment (`neodev.hostnet.bind_env`); None = detect at each start.
        build_timeout: Seconds the build command may run.
    """

    def __init__(self, spec: ProcessSpec, sink: LogSink, pid_registry: PidRegistry,
                 resolve: Callable[[str], str] | None = None, *,
                 bind: dict[str, str] | None = None, build_timeout: float = 600.0) -> None:
        self.spec = spec
        self.pid_registry = pid_registry
        self.resolve = resolve or (lambda value: value)
        self.bind = bind
        self.build_timeout = build_timeout
        self._sink = sink
        self.pid: int | None = None
        self.last_exit_code: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._exit: asyncio.Future[int] | None = None
        self._waiter: asyncio.Task[None] | None = None
        self._leader_gone: asyncio.Event | None = None
        self._readers: list[asyncio.Future[None]] = []
        self._stopping = False
        self._stop_lock = asyncio.Lock()
        self._sampler = TreeSampler()
        self._env: dict[str, str] = {}
        self._probes = UnitProbes(spec.readiness, spec.liveness, cwd=str(spec.cwd))

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def running(self) -> bool:
        return self._exit is not None and not self._exit.done()

    @property
    def first_health_poll(self) -> float:
        return FIRST_PROBE_POLL

    @property
    def health_poll(self) -> float:
        return self.spec.readiness.interval if self.spec.readiness else 1.0

    @property
    def can_build(self) -> bool:
        return bool(self.spec.build)

    def environment(self) -> dict[str, str]:
        """The child's environment: inherited < bind addresses < spec.env (references
        resolved)."""
        env = dict(os.environ)
        env.update(self.bind if self.bind is not None else bind_env())
        env.update({key: self.resolve(value) for key, value in self.spec.env.items()})
        return env

    def resolve_command(self, env: dict[str, str]) -> list[str]:
        """The argv with its executable resolved (relative paths against the cwd).

        Raises:
            ProcessError: cwd missing, or the executable missing / not executable.
        """
        cwd = Path(self.spec.cwd)
        problem = cwd_problem(cwd)
        if problem is not None:
            raise ProcessError(f"{self.name}: {problem} (cwd of process {self.name!r}; check "
                               "NEOTOOL_ROOT in .env)", title="Process cannot start")
        if not self.spec.command:
            raise ProcessError(f"{self.name}: empty command", title="Process cannot start")
        program = self.spec.command[0]
        if "/" in program:
            path = (cwd / program) if not os.path.isabs(program) else Path(program)
            if not path.exists():
                raise ProcessError(f"{self.name}: executable not found: {path} "
                                   f"(command {program!r} relative to {cwd})",
                                   title="Process cannot start")
            if path.is_dir() or not os.access(path, os.X_OK):
                raise ProcessError(f"{self.name}: not executable: {path} (chmod +x it, or "
                                   "run it through its interpreter)", title="Process cannot start")
            resolved = str(path)
        else:
            found = shutil.which(program, path=env.get("PATH", os.defpath))
            if found is None:
                raise ProcessError(f"{self.name}: executable {program!r} not found on PATH "
                                   f"({env.get('PATH', '')})", title="Process cannot start")
            resolved = found
        return [resolved, *(self.resolve(arg) for arg in self.spec.command[1:])]

    async def start(self, progress: Progress | None = None) -> LaunchResult:
        """Spawn the process in a new session; return once it runs.

        Raises:
            ProcessError: cwd or executable missing, or the spawn failed.
        """
        if self.running:
            return LaunchResult(detail=f"already running (pid {self.pid})")
        env = self.environment()
        argv = self.resolve_command(env)
        self._probes.restart(env, self.resolve)
        use_pidfd_child_watcher()  # the exit is seen at once, not after a GIL hand-over
        (out_r, out_w), (err_r, err_w) = os.pipe(), os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=self.spec.cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=out_w, stderr=err_w, start_new_session=True)
        except OSError as exc:
            os.close(out_r)
            os.close(err_r)
            raise ProcessError(f"{self.name}: cannot start {' '.join(argv)} in "
                               f"{self.spec.cwd}: {exc.strerror or exc}",
                               title="Process cannot start") from exc
        finally:
            os.close(out_w)
            os.close(err_w)
        self._proc, self.pid, self._env = proc, proc.pid, env
        self._stopping = False
        self._exit = asyncio.get_running_loop().create_future()
        self._leader_gone = asyncio.Event()
        try:
            ctime = psutil.Process(proc.pid).create_time()
        except psutil.NoSuchProcess:
            ctime = time.time()  # exited already; the waiter reports it
        self.pid_registry.record(self.name, proc.pid, proc.pid, ctime, self.spec.command)
        self._readers = [self._read(out_r, "stdout"), self._read(err_r, "stderr")]
        self._waiter = asyncio.create_task(self._watch_exit(proc), name=f"exit:{self.name}")
        return LaunchResult(detail=f"pid {proc.pid}")

    def _read(self, fd: int, name: str) -> asyncio.Future[None]:
        """Read one of the process's pipes from the event loop until its end, each chunk split
        into lines for the sink; the future is done at the end (cancelling it stops reading).

        The pipe is read in the loop's own callback (`add_reader`), not through asyncio's
        subprocess streams, which take three turns of the loop per read (a flood of output
        paid for them on every chunk)."""
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[None] = loop.create_future()
        splitter = LineSplitter()
        os.set_blocking(fd, False)

        def readable() -> None:
            try:
                chunk = os.read(fd, _READ_CHUNK)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            lines = splitter.feed(chunk) if chunk else splitter.flush()
            now = time.time()
            for line in lines:
                self._sink(line, name, now)
            self._probes.feed(lines)
            if not chunk and not ended.done():
                ended.set_result(None)

        def close(_: asyncio.Future[None]) -> None:
            loop.remove_reader(fd)
            os.close(fd)

        ended.add_done_callback(close)
        loop.add_reader(fd, readable)
        return ended

    async def _watch_exit(self, proc: asyncio.subprocess.Process) -> None:
        code = exit_code(await _returncode(proc))
        assert self._leader_gone is not None
        self._leader_gone.set()
        if not self._stopping:
            # The leader ended on its own: kill what is left of its group (orphans).
            leftovers = await asyncio.to_thread(group_members, proc.pid)
            if leftovers:
                await asyncio.to_thread(kill_tree, proc.pid, leftovers, _LEFTOVER_GRACE,
                                        proc.pid)
        # Readers end at EOF once nobody holds the pipes; do not hang on a stray holder.
        _, pending = await asyncio.wait(self._readers, timeout=_DRAIN_TIMEOUT)
        for task in pending:
            task.cancel()
        self.last_exit_code = code
        self.pid_registry.remove(self.name)
        assert self._exit is not None
        if not self._exit.done():
            self._exit.set_result(code)

    async def can_start(self) -> bool:
        return True  # a process start is never `unavailable`: it fails (and is retried) instead

    def answers_probe(self, line: str, ts: float) -> bool:
        return self._probes.answers(line, ts)

    async def wait_exit(self) -> int:
        """The exit code once the process ended (128 + N when killed by signal N).

        Raises:
            ProcessError: The process was never started.
        """
        if self._exit is None:
            raise ProcessError(f"{self.name}: wait_exit() before start()")
        return await asyncio.shield(self._exit)

    async def stop(self, grace: float) -> None:
        """SIGTERM the group, SIGKILL after `grace` seconds; no orphans, no zombies. Idempotent.

        Every wait is woken by the exit itself (asyncio's child watcher for the leader, pidfds
        for the rest of the tree), so a restart spawns the new process the moment the old one
        is gone.
        """
        async with self._stop_lock:
            proc = self._proc
            if proc is None or self._waiter is None or self._leader_gone is None:
                return
            self._stopping = True
            pid = proc.pid
            procs = await asyncio.to_thread(self._tree, proc)
            others = [p for p in procs if p.pid != pid]
            send(pid, procs, signal.SIGTERM)
            alive = await self._wait_tree(others, grace)
            if alive or not self._leader_gone.is_set():
                send(pid, alive + [p for p in procs if p.pid == pid], signal.SIGKILL)
                alive = await self._wait_tree(alive, KILL_WAIT)
            if alive:
                self._sink(f"[neodev: {len(alive)} process(es) survived SIGKILL: "
                           f"{[p.pid for p in alive]}]", "neodev", time.time())
            try:
                await asyncio.wait_for(asyncio.shield(self._waiter), 10.0)
            except TimeoutError as exc:
                raise ProcessError(f"{self.name}: pid {pid} did not exit after SIGKILL") from exc

    @staticmethod
    def _tree(proc: asyncio.subprocess.Process) -> list[psutil.Process]:
        """The leader's tree (snapshot before any signal) plus what is left in its group."""
        procs = snapshot(proc.pid) if proc.returncode is None else []
        procs += [p for p in group_members(proc.pid) if p not in procs]
        return procs

    async def _wait_tree(self, others: list[psutil.Process], timeout: float
                         ) -> list[psutil.Process]:
        """Wait (at most `timeout`) for the leader and `others` to end; those still alive."""
        assert self._leader_gone is not None
        deadline = Deadline(timeout)
        rest = asyncio.ensure_future(asyncio.to_thread(wait_gone, others, timeout))
        await sleep_unless(self._leader_gone, timeout)
        alive = await asyncio.wait_for(rest, deadline.remaining() + 1.0)
        return alive

    async def health(self) -> HealthReport:
        """One readiness attempt (folded into starting/healthy/unhealthy)."""
        if not self.running:
            return HealthReport(Health.UNHEALTHY,
                                f"process is not running (last exit code {self.last_exit_code})")
        return await self._probes.readiness()

    async def liveness(self) -> HealthReport | None:
        """One liveness attempt, or None when the unit has no liveness probe."""
        if not self.running:
            return None
        return await self._probes.liveness()

    async def stats(self) -> Stats | None:
        """CPU % (summed, first sample 0) and RSS of the whole tree, or None when not running."""
        if not self.running or self.pid is None:
            return None
        sample = await asyncio.to_thread(self._sampler.sample, self.pid)
        if sample is None:
            return None
        return Stats(cpu_percent=sample[0], memory_bytes=sample[1])

    async def build(self) -> BuildOutcome:
        """Run `spec.build` in the cwd (combined output, `build_timeout`); ok when no build.

        At the timeout the build's whole process group is killed (`neodev.command`).
        """
        if not self.spec.build:
            return BuildOutcome(True, "", 0.0)
        env = self.environment()
        problem = cwd_problem(self.spec.cwd)
        if problem is not None:
            return BuildOutcome(False, problem, 0.0)
        try:
            done = await run_command(self.spec.build, timeout=self.build_timeout,
                                     cwd=self.spec.cwd, env=env, merge_stderr=True)
        except OSError as exc:
            return BuildOutcome(False, f"cannot run build {' '.join(self.spec.build)}: "
                                      f"{exc.strerror or exc}", 0.0)
        if done.returncode is None:
            return BuildOutcome(False, f"build {' '.join(self.spec.build)} killed after "
                                      f"{self.build_timeout:g}s", done.duration)
        output = done.output
        code = exit_code(done.returncode)
        if code != 0:
            output += f"\n[build exited with code {code}]"
        return BuildOutcome(code == 0, output, done.duration)

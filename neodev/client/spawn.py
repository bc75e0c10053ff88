"""Find the workspace's daemon, or validate the profile and spawn one (CLI, dashboard, agents).

Validation happens here, in the client, while the daemon it spawned imports its modules: the
profile is read once, its missing secrets are generated into `.neodev/secrets.env`, the plan is
resolved (a ConfigError then ends the command with exit 2, and the waiting daemon, which has
touched nothing yet), and the daemon is handed that plan through its stdin instead of reading
the profile again — a pipe never leaves the secrets it holds in a file.

`python -m neodev.daemon` is started as a program, never imported: a client never loads the
server.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from neodev.client import calls
from neodev.client.discovery import find_daemon, log_tail
from neodev.client.sync import DaemonClient
from neodev.errors import DaemonError
from neodev.paths import WorkspacePaths
from neodev.rendezvous import DaemonInfo, read_info, take_startup_error
from neodev.timing import Deadline

if TYPE_CHECKING:
    import subprocess

    from neodev.config.model import EnvironmentPlan

SPAWN_TIMEOUT = 60.0
"""Seconds a fresh daemon may take to load the plan and answer on its socket."""


@dataclass(frozen=True)
class Launched:
    """The daemon a command talks to, and what the person should be told about it."""

    info: DaemonInfo
    fresh: bool
    """Spawned by this call (rather than found running)."""
    warnings: tuple[str, ...] = ()
    """The plan's non-fatal findings (unset variables, missing directories...)."""
    generated: tuple[str, ...] = ()
    """Secrets generated now, into `secrets_file`."""
    secrets_file: Path | None = None

    @property
    def socket(self) -> Path:
        return Path(self.info.socket)


def load_validated(paths: WorkspacePaths, profile: str, environ: Mapping[str, str] | None = None,
                   *, as_instance: bool = False, instance: str | None = None,
                   record: bool = True) -> tuple[EnvironmentPlan, list[str], Path]:
    """Read the profile once: generate its missing secrets, then resolve the plan — as the
    workspace's instance (`neodev.instances.resolve`) when asked.

    Args:
        paths: The workspace.
        profile: The profile name or file.
        environ: The process environment (default: `os.environ`).
        as_instance: Resolve the plan as the workspace's instance (its name, its ports);
            else as the configuration alone says it.
        instance: `--instance NAME`.
        record: Record the instance (a start); False only computes it (config, doctor).

    Returns:
        (the plan, names of the secrets generated now, the secrets file).

    Raises:
        ConfigError: the profile, a compose file or `.env` is invalid.
        InstanceError: the instance name asked for cannot be used.
    """
    from neodev.config.loader import load_plan, read_profile
    from neodev.configstate import prepare_secrets

    env = dict(os.environ if environ is None else environ)
    source = read_profile(paths.root, profile)
    generated, secrets_file = prepare_secrets(paths.root, profile, env, source)
    if not as_instance:
        return load_plan(paths.root, profile, env, source=source), generated, secrets_file
    from neodev.instances.resolve import resolve_plan

    plan = resolve_plan(paths, profile, env, source, option=instance, record=record)
    return plan, generated, secrets_file


def ensure_daemon(paths: WorkspacePaths, profile: str, *, validate: bool = True,
                  instance: str | None = None) -> Launched:
    """The running daemon of the workspace, or a new one (spawned with a validated plan).

    Args:
        paths: The workspace.
        profile: The profile to run (a running daemon must run the same one).
        validate: Validate the profile first (a spawn without it lets the daemon load the
            profile itself, as the cluster commands do for a daemon of the occasion).
        instance: `--instance NAME` (a running daemon must run that instance).

    Raises:
        ConfigError: the profile is invalid (nothing was spawned).
        InstanceError: the instance name cannot be used.
        DaemonError: a daemon of another profile or instance runs, or the new one did not
            come up.
    """
    info = find_daemon(paths)
    if info is not None:
        if info.profile != profile:
            raise DaemonError(f"the environment in {paths.root} runs profile {info.profile!r}; "
                              f"stop it first (`neodev stop`) to start {profile!r}")
        asked = instance or os.environ.get("NEODEV_INSTANCE")
        if asked and info.instance and asked != info.instance:
            raise DaemonError(f"the environment in {paths.root} runs instance "
                              f"{info.instance!r}; stop it first (`neodev stop`) to start it "
                              f"as {asked!r}")
        return Launched(info, fresh=False)
    if not validate:
        child = spawn_daemon(paths, profile, instance=instance)
        return Launched(wait_for_daemon(paths, child), True)
    # The daemon imports its modules (the longest part of its start) while we validate: two
    # processes, two cores. An invalid profile closes the pipe and ends the daemon unused.
    child = spawn_daemon(paths, profile, plan_on_stdin=True)
    try:
        plan, generated, secrets_file = load_validated(paths, profile, as_instance=True,
                                                       instance=instance)
    except BaseException:
        abandon(child)
        raise
    hand_over_plan(child, plan.model_dump_json())
    info = wait_for_daemon(paths, child)
    return Launched(info, True, plan.warnings, tuple(generated), secrets_file)


def teardown_daemon(paths: WorkspacePaths, project: str) -> Launched:
    """A daemon that only tears down `project` (found by its label): `down` when the profile
    does not load any more."""
    child = spawn_daemon(paths, "(teardown)", teardown=project)
    return Launched(wait_for_daemon(paths, child), fresh=True)


def spawn_daemon(paths: WorkspacePaths, profile: str, environ: dict[str, str] | None = None,
                 plan_on_stdin: bool = False, teardown: str | None = None,
                 instance: str | None = None) -> subprocess.Popen[bytes]:
    """Start `python -m neodev.daemon` detached (own session, output to .neodev/daemon.log).

    Args:
        paths: The workspace.
        profile: The profile name (for the status file, and to load when no plan is given).
        environ: The daemon's environment (default: ours).
        plan_on_stdin: The caller validates the profile while the daemon imports its modules,
            then writes the plan (JSON) to the child's stdin (`hand_over_plan`), or kills the
            child when the profile is invalid (`abandon`). Until its plan arrives the daemon
            touches nothing in the workspace: its output goes to a pipe `wait_for_daemon`
            reads if it dies that early, then to its log.
        teardown: A compose project to tear down without any profile (`down` when the
            configuration no longer loads).
        instance: `--instance NAME`, for a daemon that loads the profile itself (it reaches
            it as NEODEV_INSTANCE, which the option overrides anyway).
    """
    import subprocess

    extra = ["--plan-on-stdin"] if plan_on_stdin else []
    if teardown is not None:
        extra += ["--teardown", teardown]
    command = [sys.executable, "-m", "neodev.daemon", "--workspace", str(paths.root),
               "--profile", profile, *extra]
    environment = environ if environ is not None else dict(os.environ)
    if instance:
        environment = {**environment, "NEODEV_INSTANCE": instance}
    if plan_on_stdin:
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, start_new_session=True,
                                 env=environment, cwd=paths.root)
    else:
        paths.ensure_state_dir()
        with open(paths.daemon_log, "ab") as log:  # the child has its own copy of the fd
            child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env=environment, cwd=paths.root)
    _reap_when_it_exits(child)
    return child


def hand_over_plan(child: subprocess.Popen[bytes], plan_json: str) -> None:
    """Give a daemon spawned with `plan_on_stdin` its plan.

    A daemon that already ended has closed its end: that is not an error here —
    `wait_for_daemon` reports why it ended.
    """
    assert child.stdin is not None
    with contextlib.suppress(BrokenPipeError):
        child.stdin.write(plan_json.encode())
    with contextlib.suppress(BrokenPipeError):
        child.stdin.close()


def abandon(child: subprocess.Popen[bytes]) -> None:
    """End a daemon spawned with `plan_on_stdin` that will get no plan. It has done nothing
    but import modules, so killing it is safe, and waiting for it leaves no zombie."""
    child.kill()
    child.wait()
    for pipe in (child.stdin, child.stdout):
        if pipe is not None:
            with contextlib.suppress(BrokenPipeError):
                pipe.close()


def _reap_when_it_exits(child: subprocess.Popen[bytes]) -> None:
    """Collect the daemon's exit status whenever it comes.

    The daemon outlives a CLI command (it is then re-parented to init), but not always a
    long-lived caller such as the dashboard: without a waiter it would linger as a zombie
    there after `down`, and Python would warn that it is still running.
    """
    import threading

    threading.Thread(target=child.wait, name="neodev-daemon-reaper", daemon=True).start()


def wait_for_daemon(paths: WorkspacePaths, child: subprocess.Popen[bytes],
                    timeout: float = SPAWN_TIMEOUT) -> DaemonInfo:
    """Wait until the spawned daemon answers, or explain why it did not.

    Raises:
        NeodevError: the daemon's own startup error (e.g. a ConfigError), when it reported one.
        DaemonError: the daemon exited or did not answer in time.
    """
    try:
        return _wait_for_answer(paths, child, timeout)
    finally:
        if child.stdout is not None:
            child.stdout.close()  # a daemon that answers writes to its log by now


def _wait_for_answer(paths: WorkspacePaths, child: subprocess.Popen[bytes], timeout: float
                     ) -> DaemonInfo:
    deadline = Deadline(timeout)
    while not deadline.passed:
        code = child.poll()
        if code is not None:
            early = _early_output(child)
            raise take_startup_error(paths) or DaemonError(
                f"the daemon exited with code {code} while starting"
                + (f":\n{early}" if early else f"; see {paths.daemon_log}:\n{log_tail(paths)}"))
        info = read_info(paths)
        if info is not None and info.pid == child.pid and Path(info.socket).exists():
            with contextlib.suppress(DaemonError):
                DaemonClient(Path(info.socket)).call(calls.ping())
                return info
        # Short: on a cold start the daemon is the critical path and the command waits on
        # it; a poll (a small file read, one connect) is cheap next to that.
        time.sleep(0.01)
    raise DaemonError(f"the daemon did not answer within {timeout:.0f}s; see {paths.daemon_log}")


def _early_output(child: subprocess.Popen[bytes], limit: int = 8192) -> str:
    """What a daemon spawned with `plan_on_stdin` printed before it had its log (it ended)."""
    if child.stdout is None:
        return ""
    data = child.stdout.read()[-limit:]
    return data.decode("utf-8", "replace").strip()

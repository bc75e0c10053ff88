"""Finding the workspace daemon: the lock is the authority, a pid counts only with its
create time, and leftovers of a killed daemon are removed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from neodev import rendezvous
from neodev.client import discovery, spawn
from neodev.errors import ConfigError, DaemonError, error_from_dict
from neodev.paths import WorkspacePaths


def _info(paths: WorkspacePaths, pid: int, create_time: float) -> rendezvous.DaemonInfo:
    return rendezvous.DaemonInfo(pid=pid, create_time=create_time, socket=str(paths.socket),
                                profile="local", workspace=str(paths.root),
                                started_at=time.time(), version="0")


def test_stale_socket_and_status_of_a_dead_daemon_are_removed(tmp_path: Path) -> None:
    paths = WorkspacePaths(tmp_path)
    paths.ensure_state_dir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    rendezvous.write_info(paths, _info(paths, dead.pid, 12345.0))
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(paths.socket))
    assert discovery.find_daemon(paths) is None
    assert not paths.socket.exists() and not paths.status_file.exists()


def test_the_stale_socket_the_status_file_names_is_removed_wherever_it_is(
        tmp_path: Path) -> None:
    """A deep workspace's daemon bound its socket in its environment's runtime directory,
    which need not be this process's: the status file says where."""
    paths = WorkspacePaths(tmp_path / "ws")
    paths.ensure_state_dir()
    elsewhere = tmp_path / "runtime" / "d.sock"
    elsewhere.parent.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    rendezvous.write_info(paths, replace(_info(paths, dead.pid, 12345.0), socket=str(elsewhere)))
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(elsewhere))
    assert discovery.find_daemon(paths) is None
    assert not elsewhere.exists() and not paths.status_file.exists()


def test_a_reused_pid_is_not_our_daemon(tmp_path: Path) -> None:
    paths = WorkspacePaths(tmp_path)
    paths.ensure_state_dir()
    me = psutil.Process()
    # our own pid is alive, but with another create time it is a different process
    rendezvous.write_info(paths, _info(paths, me.pid, me.create_time() - 100))
    paths.socket.touch()
    assert discovery.find_daemon(paths) is None
    assert not paths.status_file.exists()


def test_the_lock_is_exclusive_across_processes_and_freed_when_the_holder_dies(
        tmp_path: Path) -> None:
    paths = WorkspacePaths(tmp_path)
    paths.ensure_state_dir()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, sys, time\n"
         f"f = open({str(paths.lock_file)!r}, 'a+')\n"
         "fcntl.flock(f.fileno(), fcntl.LOCK_EX)\n"
         "print('locked', flush=True)\n"
         "time.sleep(30)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert not rendezvous.DaemonLock(paths).try_acquire()
        # a starting daemon (locked, no status yet) is not mistaken for a dead one
        rendezvous.write_info(paths, _info(paths, holder.pid,
                                          psutil.Process(holder.pid).create_time()))
        assert discovery.find_daemon(paths) is not None
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    lock = rendezvous.DaemonLock(paths)
    assert lock.try_acquire()
    lock.release()


def test_startup_errors_come_back_as_the_same_error_type(tmp_path: Path) -> None:
    paths = WorkspacePaths(tmp_path)
    paths.ensure_state_dir()
    rendezvous.record_startup_error(paths, ConfigError("bad key", file="p.toml", line=3))
    error = rendezvous.take_startup_error(paths)
    assert isinstance(error, ConfigError) and error.exit_code == 2
    assert error.message == "p.toml:3: bad key"
    assert rendezvous.take_startup_error(paths) is None  # consumed
    unknown = error_from_dict({"type": "Nope", "message": "m", "title": "t", "exit_code": 9})
    assert unknown.exit_code == 9 and unknown.message == "m"


def test_a_daemon_that_dies_while_starting_is_reported_with_its_log(tmp_path: Path) -> None:
    paths = WorkspacePaths(tmp_path)
    paths.ensure_state_dir()
    paths.daemon_log.write_text("Traceback: something broke\n")
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    with pytest.raises(DaemonError) as caught:
        spawn.wait_for_daemon(paths, child, timeout=10)
    assert "exited with code 3" in caught.value.message
    assert "something broke" in caught.value.message


def test_a_daemon_waiting_for_its_plan_leaves_no_trace_when_abandoned(tmp_path: Path) -> None:
    """The real daemon, spawned as `neodev start` spawns it: killed before its plan arrives
    (the profile was invalid), it has created nothing in the workspace and is reaped."""
    paths = WorkspacePaths(tmp_path)
    child = spawn.spawn_daemon(paths, "local", plan_on_stdin=True)
    time.sleep(0.3)  # it is importing its modules meanwhile
    spawn.abandon(child)
    assert child.returncode == -9
    assert not paths.state_dir.exists()


def test_a_daemon_that_dies_before_its_plan_is_reported_with_its_output(tmp_path: Path) -> None:
    """An import that fails in the daemon (here a module shadowing uvicorn on its path) ends
    it before it has a log: the error carries what it printed."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "uvicorn.py").write_text("raise RuntimeError('uvicorn is broken here')\n")
    paths = WorkspacePaths(tmp_path / "ws")
    paths.root.mkdir()
    environ = {**os.environ, "PYTHONPATH": str(shadow)}
    child = spawn.spawn_daemon(paths, "local", environ=environ, plan_on_stdin=True)
    spawn.hand_over_plan(child, "{}")
    with pytest.raises(DaemonError) as caught:
        spawn.wait_for_daemon(paths, child, timeout=30)
    assert "exited with code 1" in caught.value.message
    assert "RuntimeError: uvicorn is broken here" in caught.value.message
    assert child.stdout is not None and child.stdout.closed


def test_socket_mode_is_0600_from_the_start(tmp_path: Path) -> None:
    from neodev.daemon.server import bind_control_socket

    path = tmp_path / "d.sock"
    old = os.umask(0o022)
    try:
        sock = bind_control_socket(path)
    finally:
        os.umask(old)
    try:
        assert (path.stat().st_mode & 0o777) == 0o600
    finally:
        sock.close()


def test_a_socket_directory_others_may_write_to_is_refused(tmp_path: Path) -> None:
    from neodev.daemon.server import bind_control_socket

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # anyone could swap the socket and answer in the daemon's name
    with pytest.raises(DaemonError) as caught:
        bind_control_socket(shared / "d.sock")
    assert f"{shared} is not private" in caught.value.message and "0700" in caught.value.message
    assert not (shared / "d.sock").exists()
    fresh = tmp_path / "runtime" / "neodev"
    bind_control_socket(fresh / "d.sock").close()
    assert fresh.stat().st_mode & 0o777 == 0o700

"""Supervised processes through the real CLI and daemon: crash-loop backoff, a broken build
that keeps the old process serving, and reloads visible in `neodev logs`.

The apps are tiny stdlib programs written by the test; the file events are real (inotify).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from neodev.client import DaemonClient, calls
from neodev.hostnet import docker_gateway_ip
from neodev.protocol import encode, encode_event
from tests.apps import WEB
from tests.integration.lines import LineReader
from tests.integration.stack_workspace import CLI_POLL, NeodevCLI, StackWorkspace
from tests.ports import free_port
from tests.waiting import until

BUILD = ("import pathlib, sys\n"
         "if pathlib.Path('src/BROKEN').exists():\n"
         "    sys.exit('compile error: src/BROKEN is present')\n"
         "print('build ok')\n")


LONG_LINES = ("import sys, time\n"
              "for i in range(400):\n"
              "    sys.stdout.write('x' * (1024 * 1024) + '\\n')\n"
              "    sys.stdout.flush()\n"
              "time.sleep(60)\n")


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[tuple[StackWorkspace, NeodevCLI, Path, int]]:
    root = tmp_path / "ws"
    app = root / "app"
    (app / "src").mkdir(parents=True)
    (root / "profiles").mkdir()
    (app / "build.py").write_text(BUILD)
    (app / "longlines.py").write_text(LONG_LINES)
    (app / "src" / "version.txt").write_text("v1\n")
    port = free_port()
    bound_port = free_port()
    py = sys.executable
    (root / "profiles" / "local.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "ndp"
        env_file = "../.env"

        [processes.app]
        cwd = "{app}"
        command = ["{py}", "{WEB}", "--file", "src/version.txt", "--banner", "serving {{body}}"]
        env = {{ PORT = "{port}" }}
        port = {port}
        watch = ["src/**"]
        build = ["{py}", "build.py"]
        reload = "restart"
        stop_grace = 2
        readiness = {{ http = "http://127.0.0.1:{port}/", interval = 0.2, start_period = 10 }}

        [processes.leaky]
        cwd = "{app}"
        command = ["sh", "-c", "echo password=$DB_PASSWORD url=postgres://app:$DB_PASSWORD@db/x"]
        env = {{ DB_PASSWORD = "${{DB_PASSWORD}}" }}

        [processes.crashy]
        cwd = "{app}"
        command = ["sh", "-c", "echo boom-on-stdout; exit 2"]
        restart = "on-failure"
        backoff = {{ initial = 0.2, factor = 2, maximum = 1 }}

        [processes.dies]
        cwd = "{app}"
        command = ["sh", "-c", "echo boom; exit 1"]
        restart = "no"

        [processes.longlines]
        cwd = "{app}"
        command = ["{py}", "longlines.py"]

        [processes.nowhere]
        cwd = "{root}/no-such-dir"
        command = ["true"]
        watch = ["src/**"]

        [processes.bound]
        cwd = "{app}"
        command = ["{py}", "{WEB}"]
        env = {{ PORT = "{bound_port}" }}
        port = {bound_port}
        """))
    (root / ".env").write_text("DB_PASSWORD=s3cret-value-42\n")
    ws = StackWorkspace(root=root, project="ndp", ports={})
    cli = NeodevCLI(ws)
    yield ws, cli, app, port
    cli("stop")


def _unit(cli: NeodevCLI, name: str) -> dict:
    return next(u for u in cli("status", "--json").json()["units"] if u["name"] == name)


def _reload(cli: NeodevCLI, name: str) -> dict:
    return _unit(cli, name)["last_reload"] or {}


def test_crash_loop_is_backed_off_and_shown_with_exit_code_and_last_output(workspace) -> None:
    _, cli, _, _ = workspace
    assert cli("start", "crashy").code == 0
    until(lambda: _unit(cli, "crashy"), "crashy in a crash loop", 30,
          ok=lambda unit: unit["crash_loop"], interval=CLI_POLL)
    # Every time it is asked — backing off, or being started again — status says crash loop,
    # with the exit code and the last line of output (like Kubernetes' CrashLoopBackOff).
    states = set()
    for _ in range(15):
        crashy = _unit(cli, "crashy")
        states.add(crashy["state"])
        assert crashy["crash_loop"], crashy
        assert "exited with code 2; last output: boom-on-stdout" in crashy["reason"], crashy
        text = cli("status").out
        assert "crash-loop" in text and "crashy: crash loop" in text
    assert "backoff" in states
    assert crashy["restarts"] >= 2
    # backed off, not retried at full speed: 0.2, 0.4, 0.8, then 1 s (the cap) apart
    restarts_then, since = crashy["restarts"], time.monotonic()
    time.sleep(2)
    restarts_now = _unit(cli, "crashy")["restarts"]
    elapsed = time.monotonic() - since
    assert restarts_now - restarts_then <= elapsed / 1.0 + 1
    assert "boom-" in cli("logs", "crashy").out
    assert _unit(cli, "app")["state"] == "pending"  # not requested, not affected


def test_broken_build_keeps_the_old_process_serving_then_a_fix_reloads(workspace) -> None:
    _, cli, app, port = workspace
    result = cli("start", "--wait", "--timeout", "60", "app")
    assert result.code == 0, result.err + result.out
    url = f"http://127.0.0.1:{port}/"
    with httpx.Client(trust_env=False, timeout=3) as http:
        assert http.get(url).text == "v1"

        (app / "src" / "BROKEN").write_text("x")
        (app / "src" / "version.txt").write_text("v2\n")
        until(lambda: _reload(cli, "app"), "a failed build", 30,
              ok=lambda last: last.get("outcome") == "build_failed", interval=CLI_POLL)
        assert http.get(url).text == "v1"  # the old process still serves
        unit = _unit(cli, "app")
        assert unit["restarts"] == 0 and unit["state"] == "running"
        assert "compile error: src/BROKEN is present" in unit["last_reload"]["detail"]
        logs = cli("logs", "app").out
        assert "app | reload: build failed" in logs
        assert "app | compile error: src/BROKEN is present" in logs

        (app / "src" / "BROKEN").unlink()
        (app / "src" / "version.txt").write_text("v3\n")
        until(lambda: http.get(url).text, "v3 served", 30, ok=lambda text: text == "v3",
              retry_on=(httpx.HTTPError,), interval=0.1)
    until(lambda: _reload(cli, "app"), "a reload", 10, ok=lambda last: last.get("outcome") == "ok",
          interval=CLI_POLL)
    assert _unit(cli, "app")["restarts"] == 1
    logs = cli("logs", "app").out
    assert "reload: restarted and ready" in logs and "serving v3" in logs


def test_sigterm_to_the_daemon_stops_its_processes_first(workspace) -> None:
    _, cli, _, _ = workspace
    assert cli("start", "--wait", "--timeout", "60", "app").code == 0
    info = cli.daemon_info()
    assert info is not None
    daemon = psutil.Process(info["pid"])
    assert daemon.create_time() == info["create_time"]
    records = json.loads((cli.ws.root / ".neodev" / "pids.json").read_text())
    app = psutil.Process(records["app"]["pid"])
    assert app.create_time() == records["app"]["create_time"]
    daemon.terminate()
    daemon.wait(timeout=30)
    assert not app.is_running() or app.status() == psutil.STATUS_ZOMBIE
    assert not (cli.ws.root / ".neodev" / "daemon.sock").exists()
    assert cli("status", "--json").json()["running"] is False


def test_a_burst_of_50_edits_restarts_the_process_once_or_twice(workspace) -> None:
    _, cli, app, port = workspace
    assert cli("start", "--wait", "--timeout", "60", "app").code == 0
    for i in range(50):
        (app / "src" / f"gen_{i}.txt").write_text(str(i))
    (app / "src" / "version.txt").write_text("burst\n")
    until(lambda: httpx.get(f"http://127.0.0.1:{port}/", trust_env=False).text, "burst served",
          30, ok=lambda text: text == "burst", retry_on=(httpx.HTTPError,), interval=0.1)
    time.sleep(2)  # a late second batch would show up by now
    assert 1 <= _unit(cli, "app")["restarts"] <= 2
    # ignored paths (editor swap files, .git) change nothing
    restarts = _unit(cli, "app")["restarts"]
    (app / "src" / ".version.txt.swp").write_text("x")
    (app / ".git").mkdir()
    (app / ".git" / "index").write_text("x")
    time.sleep(2)  # a restart would show up by now
    assert _unit(cli, "app")["restarts"] == restarts


def test_a_process_without_a_probe_that_dies_at_once_fails_the_wait(workspace) -> None:
    _, cli, _, _ = workspace
    result = cli("start", "--wait", "--timeout", "30", "dies")
    assert result.code == 10, result.out + result.err  # exited (WAIT_EXIT_CODES)
    assert "FAIL dies: crashed — exited with code 1; last output: boom" in result.out
    # the summary starts on a line of its own
    assert "\nEnvironment not healthy: not healthy: dies" in "\n" + result.err


def test_a_port_held_on_the_bridge_address_stops_the_start_naming_the_holder(
        workspace) -> None:
    _, cli, _, _ = workspace
    profile = (cli.ws.root / "profiles" / "local.toml").read_text()
    section = profile.split("[processes.bound]")[1]
    port = int(next(line.split("=")[1] for line in section.splitlines()
                    if line.startswith("port =")))
    gateway = docker_gateway_ip()
    assert gateway, "no docker0 bridge on this machine"
    with socket.socket() as held:
        held.bind((gateway, port))
        held.listen()
        result = cli("start", "bound")
    assert result.code == 3, result.out + result.err
    assert f"{gateway}:{port}/tcp (bound): already in use by" in result.err
    assert f"pid {os.getpid()}" in result.err
    assert "nothing was started" in result.err
    assert cli("status").code == 6  # the daemon spawned for it is gone again


def test_the_api_keeps_answering_while_huge_lines_pour_in(workspace) -> None:
    _, cli, _, _ = workspace
    assert cli("start", "longlines").code == 0
    answers = []
    for _ in range(10):  # while 400 lines of 1 MiB are read, cut, masked and kept
        started = time.monotonic()
        status = cli("status", "--json", timeout=20)
        answers.append(time.monotonic() - started)
        assert status.code == 0, status.err
    lines = cli("logs", "-n", "3", "longlines").out.splitlines()
    assert lines and all(len(line) < 20_000 for line in lines)
    assert "more bytes of this line not kept" in lines[-1]
    assert max(answers) < 20  # never stalled (each answer bounded by the call's timeout)


def test_a_missing_working_directory_is_a_clean_error_in_the_daemon(workspace) -> None:
    ws, cli, _, _ = workspace
    result = cli("start", "--wait", "--timeout", "20", "nowhere")
    assert result.code == 7
    assert "working directory" in result.out and "does not exist" in result.out
    assert "hot reload off" in cli("logs", "nowhere").out
    assert cli("stop").code == 0  # a task's unretrieved error would be logged at the latest now
    log = (ws.root / ".neodev" / "daemon.log").read_text()
    assert "Traceback" not in log, log


def test_an_edit_after_stop_does_not_start_the_unit_again(workspace) -> None:
    _, cli, app, port = workspace
    assert cli("start", "--wait", "--timeout", "60", "app").code == 0
    assert cli("stop", "app").code == 0
    info = cli.daemon_info()
    assert info is not None
    with DaemonClient(Path(info["socket"])) as api:
        (app / "src" / "version.txt").write_text("edited while stopped\n")
        # The watcher saw the change and the engine ignored it (the unit is not wanted).
        until(lambda: api.call(calls.unit("app")).reloads.ignored_while_stopped,
              "an edit ignored while stopped", 20, ok=lambda ignored: ignored >= 1)
        unit = encode(api.call(calls.unit("app")).status)
        assert unit["state"] == "stopped" and unit["desired"] == "stopped"
        assert unit["restarts"] == 0
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/", trust_env=False, timeout=1)


def test_secret_values_are_masked_in_logs(workspace) -> None:
    _, cli, _, _ = workspace
    assert cli("start", "leaky").code == 0
    until(lambda: _unit(cli, "leaky")["state"], "leaky exited", 20,
          ok=lambda state: state == "exited", interval=CLI_POLL)
    logs = cli("logs", "leaky").out
    assert "password=********" in logs and "postgres://app:********@db/x" in logs
    assert "s3cret-value-42" not in logs
    # Every sink: the log file on disk, the event stream, status, the unit's details.
    on_disk = (cli.ws.root / ".neodev" / "logs" / "leaky.log").read_text()
    assert "password=********" in on_disk and "s3cret-value-42" not in on_disk
    info = cli.daemon_info()
    assert info is not None
    with DaemonClient(Path(info["socket"])) as api:
        events = [encode_event(e) for e in api.stream(calls.events(since=0, follow=False))]
        assert any("password=********" in str(e) for e in events)
        assert "s3cret-value-42" not in str(events)
        assert "s3cret-value-42" not in str(encode(api.call(calls.unit("leaky"))))
        assert "s3cret-value-42" not in str(encode(api.call(calls.status())))


def test_logs_follow_prints_new_lines_and_ends_cleanly_when_the_environment_stops(
        workspace) -> None:
    _, cli, app, _ = workspace
    assert cli("start", "--wait", "--timeout", "60", "app").code == 0
    follower = subprocess.Popen([sys.executable, "-m", "neodev", "logs", "-f", "app"],
                                cwd=cli.ws.root, env=cli.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    lines = LineReader(follower.stdout)
    try:
        # Connected once it printed the retained lines (the app's start-up line among them).
        assert lines.wait_for("serving v1", 20), lines.seen
        (app / "src" / "version.txt").write_text("followed\n")
        until(lambda: _reload(cli, "app"), "a reload", 30,
              ok=lambda last: last.get("outcome") == "ok", interval=CLI_POLL)
        assert cli("stop").code == 0
        follower.wait(timeout=30)
        err = follower.stderr.read()  # type: ignore[union-attr]
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.communicate()
    assert follower.returncode == 0, err
    assert lines.wait_for("app | serving followed", 5)  # a line written after it began
    lines.join()
    follower.stdout.close()  # type: ignore[union-attr]
    follower.stderr.close()  # type: ignore[union-attr]
    assert "(the environment was stopped)" in err

"""A report, written from a daemon and opened in the dashboard with no daemon behind it.

The report is recorded from the scripted daemon (`scripted_daemon.py`: the real API over
scripted units; the worker cannot start) through the real client, written to a real file, and
read back. The viewer must answer the dashboard's requests as the daemon did — the same pages
for the same searches and filters —, and the dashboard on it must show the units, the lines,
a search, the filters, a unit's details with its timeline, and refuse every action.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from neodev.client import DaemonClient, calls
from neodev.config.display import mask_strings, secret_values
from neodev.errors import ReadOnlyReportError, RequestError, UnknownUnitError
from neodev.paths import WorkspacePaths
from neodev.protocol.events import Snapshot
from neodev.protocol.units import WaitResult
from neodev.report.archive import read_archive, write_archive
from neodev.report.model import CheckLine
from neodev.report.record import record
from neodev.report.viewer import ReportClient
from neodev.tui.screens import DetailsScreen
from tests.tui.scripted_daemon import SECRET, ScriptedDaemon, shop_plan, shop_runners
from tests.tui.shop import OUTPUT, UNITS, WAIT, RecordingApp, _text
from tests.waiting import until_async

OUTPUT_WITH_SECRET = [*OUTPUT, ("api", f"calling upstream with token {SECRET}")]


class Recorded:
    """A report of the failing shop, and the daemon it was recorded from (still running)."""

    def __init__(self, daemon: ScriptedDaemon, file: Path, wait: WaitResult) -> None:
        self.daemon = daemon
        self.file = file
        self.wait = wait

    def viewer(self) -> ReportClient:
        return ReportClient.open(self.file)

    def app(self) -> RecordingApp:
        viewer = self.viewer()
        return RecordingApp(WorkspacePaths(self.file.parent / "elsewhere"), "local",
                            client=viewer, report=viewer.title,
                            keymap=self.file.parent / "no-keymap.toml")


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[Recorded]:
    root = tmp_path / "shop"
    root.mkdir()
    plan = shop_plan(root, failing=True)
    with ScriptedDaemon(root, plan, shop_runners(failing=True)) as daemon, \
            DaemonClient(daemon.paths.socket) as client:
        client.call(calls.start())
        wait = client.call(calls.wait(None, 5))
        daemon.print(OUTPUT_WITH_SECRET)
        secrets = secret_values(plan)
        found = record(client, doctor=[CheckLine("docker", "ok", "Docker Engine 20.10")],
                       wait=wait, mask=lambda data: mask_strings(data, secrets))
        file = tmp_path / "report.zip"
        write_archive(found, file)
        yield Recorded(daemon, file, wait)


def test_the_report_holds_every_part_and_no_secret(recorded: Recorded) -> None:
    with zipfile.ZipFile(recorded.file) as archive:
        names = set(archive.namelist())
        content = b"".join(archive.read(name) for name in names)
    assert {"manifest.json", "status.json", "ping.json", "wait.json", "events.ndjson",
            "diagnostics.json", "doctor.json", "wiring.json"} <= names
    assert {f"units/{u}.json" for u in UNITS} | {f"logs/{u}.ndjson" for u in UNITS} <= names
    assert SECRET.encode() not in content
    assert b"calling upstream with token ********" in content
    report = read_archive(recorded.file)
    assert report.wait == recorded.wait and report.wait is not None
    assert report.wait.failure == "start_failed"
    assert [v.kind for v in report.wait.units] == ["ready", "ready", "start_failed"]
    # the state events since the start: every unit went through starting to its end state
    states = [(e.status.name, str(e.status.state)) for e in report.events
              if e.type == "unit"]  # type: ignore[attr-defined]
    assert ("worker", "crashed") in states and ("api", "running") in states
    assert report.manifest.cuts == ()
    assert report.doctor == [CheckLine("docker", "ok", "Docker Engine 20.10")]


async def test_the_viewer_answers_as_the_daemon_did(recorded: Recorded) -> None:
    viewer = recorded.viewer()
    requests = [
        calls.logs(), calls.logs(q="TIMEOUT"), calls.logs(q="timeout", case=True),
        calls.logs(regex=r"job \d+"), calls.logs(["api"]), calls.logs(levels=["error", "warn"]),
        calls.logs(limit=3), calls.logs(before=6, limit=2), calls.logs(after=4, limit=3),
        calls.logs(["api", "db"], q="o", limit=4),
    ]
    with DaemonClient(recorded.daemon.paths.socket) as client:
        for request in requests:
            assert await viewer.call(request) == client.call(request), request.query
        followed = client.call(calls.logs(after=5, limit=100)).lines
    assert [r async for r in viewer.stream(calls.follow_logs(after=5))] == list(followed)
    assert [r async for r in viewer.stream(calls.follow_logs(n=2))] == list(followed[-2:])
    assert await viewer.call(calls.status()) == viewer.report.status
    assert (await viewer.call(calls.unit("worker"))).timeline == \
        viewer.report.units["worker"].timeline != ()
    items = [i async for i in viewer.follow_events(types=["unit"])]
    assert isinstance(items[-1], Snapshot) and items[-1].units == viewer.report.status.units
    with pytest.raises(UnknownUnitError):
        await viewer.call(calls.unit("nope"))
    with pytest.raises(UnknownUnitError):
        await viewer.call(calls.connection("nope"))
    assert (await viewer.call(calls.connection("api"))).value is None  # no secret kept
    with pytest.raises(RequestError):
        await viewer.call(calls.logs(regex="("))


@pytest.mark.parametrize("request_", [
    calls.start(), calls.stop(), calls.act("api", "restart"), calls.down(True),
    calls.shutdown(), calls.take_snapshot("x"), calls.submit_job("up", "staging"),
], ids=lambda r: f"{r.method} {r.path}")
async def test_every_action_is_refused_as_read_only(recorded: Recorded, request_: Any) -> None:
    with pytest.raises(ReadOnlyReportError, match="read-only report"):
        await recorded.viewer().call(request_)


async def test_the_dashboard_shows_the_report_with_no_daemon(recorded: Recorded) -> None:
    recorded.daemon.__exit__(None, None, None)  # nothing answers on the socket any more
    app = recorded.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await until_async(lambda: list(app.view.units) == UNITS, "the recorded units", WAIT,
                          sleep=pilot.pause)
        await until_async(lambda: len(app.logview.records) == 3 + len(OUTPUT_WITH_SECRET),
                          "the recorded lines", WAIT, sleep=pilot.pause)
        header = _text(app.query_one("#header", Static))
        assert "read-only report report.zip" in header
        assert "start --wait failed: start_failed (worker" in header  # cut at the edge
        assert "daemon" not in header and "docker" not in header
        assert "crashed" in str(app.table.get_cell("worker", "state"))
        assert "worker" in _text(app.query_one("#problems", Static))

        # search: every recorded line is searched, the newest match is the current one
        await pilot.press("slash", *"timeout", "enter")
        await until_async(lambda: app.logview.current_match is not None, "the search", WAIT,
                          sleep=pilot.pause)
        assert len(app.logpane.matches) == 2
        assert "search 'timeout' 2/2" in _text(app.query_one("#logbar", Static))

        # filters: one unit, then warnings and errors only
        app.table.move_cursor(row=UNITS.index("api"))
        await pilot.press("escape", "f")
        await until_async(lambda: {r.unit for r in app.logview.records} == {"api"}, "api only",
                          WAIT, sleep=pilot.pause)
        await pilot.press("e")
        await until_async(lambda: [r.level for r in app.logview.records] == ["warn", "error"],
                          "warnings and errors of api", WAIT, sleep=pilot.pause)

        # details, with the start timeline as recorded
        app.table.move_cursor(row=UNITS.index("worker"))
        await pilot.press("d")
        await until_async(lambda: isinstance(app.screen, DetailsScreen), "the details", WAIT,
                          sleep=pilot.pause)
        shown = "\n".join(_text(w) for w in app.screen.query(Static))
        assert "start timeline" in shown and "failed to start" in shown
        assert "No such file or directory" in shown
        await pilot.press("escape")
        await until_async(lambda: not isinstance(app.screen, DetailsScreen), "back", WAIT,
                          sleep=pilot.pause)

        # actions are refused, saying why (the recorded failure was told once, at the start)
        assert app.notes == [("error", "worker failed",
                              "failed to start: ./run worker: No such file or directory")]
        await pilot.press("r")
        await until_async(lambda: len(app.notes) > 1, "the refusal", WAIT, sleep=pilot.pause)
        assert ("error", "restart worker: Read-only report") in [n[:2] for n in app.notes]
        assert "read-only report" in app.notes[-1][2]
        assert app.is_running
        await pilot.press("q")
    assert app.return_value == "kept"


def test_a_report_bigger_than_its_bound_keeps_the_newest_lines_and_says_so(
        recorded: Recorded, tmp_path: Path) -> None:
    whole = read_archive(recorded.file)
    whole.logs["api"] = [*whole.logs["api"]] * 200  # ~1,000 lines of api
    small = tmp_path / "small.zip"
    manifest = write_archive(whole, small, max_bytes=80_000)
    cut = {c.part: c for c in manifest.cuts}
    assert set(cut) == {"logs/api"}
    assert cut["logs/api"].dropped > 0 and cut["logs/api"].kept > 0
    assert "80000" not in cut["logs/api"].why and "MiB" in cut["logs/api"].why
    with zipfile.ZipFile(small) as archive:
        assert sum(i.file_size for i in archive.infolist()) <= 80_000 + 4_000  # + manifest
    again = read_archive(small)
    assert again.logs["api"] == whole.logs["api"][-cut["logs/api"].kept:]
    assert again.logs["db"] == whole.logs["db"]  # small units keep all they have
    assert asyncio.run(_first_line(small)) == whole.logs["api"][-cut["logs/api"].kept]


async def _first_line(file: Path) -> Any:
    page = await ReportClient.open(file).call(calls.logs(["api"], limit=10**6))
    return page.lines[0]


def test_in_a_pipe_the_report_is_text_and_report_needs_a_daemon(recorded: Recorded) -> None:
    root = recorded.daemon.paths.root
    recorded.daemon.__exit__(None, None, None)
    env = {**os.environ, "NEODEV_WORKSPACE": str(root), "NO_COLOR": "1"}
    for args in (["--report", str(recorded.file)], ["open-report", str(recorded.file)]):
        shown = subprocess.run([sys.executable, "-m", "neodev", *args], env=env,
                               capture_output=True, text=True, timeout=60, check=False)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.startswith("read-only report report.zip · recorded ")
        assert "FAIL worker: crashed — failed to start: ./run worker: No such file or " \
            "directory [start_failed]" in shown.stdout
        assert "profile local · instance shop" in shown.stdout  # who it was (instances)
    missing = subprocess.run([sys.executable, "-m", "neodev", "report", "-o", "x.zip"],
                             env=env, cwd=root, capture_output=True, text=True, timeout=60,
                             check=False)
    assert missing.returncode == 6, missing.stderr  # no environment running here
    assert "no neodev environment is running" in missing.stderr
    assert not (root / "x.zip").exists()
    bad = subprocess.run([sys.executable, "-m", "neodev", "open-report", str(root / "nope")],
                         env=env, capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and "does not exist" in bad.stderr
    (root / "notes.txt").write_text("not a report")
    bad = subprocess.run([sys.executable, "-m", "neodev", "--report", str(root / "notes.txt")],
                         env=env, capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2, bad.stderr  # ReportError
    assert bad.stderr.startswith("Report error: ") and "is not a readable neodev report" \
        in bad.stderr


async def test_the_viewer_hides_probe_lines_as_the_daemon_does(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    root.mkdir()
    runners = shop_runners()
    runners["api"].probe_marker = "GET /health"  # its access log shows the probes' requests
    probe = '127.0.0.1 - - "GET /health HTTP/1.1" 200 -'
    with ScriptedDaemon(root, shop_plan(root), runners) as daemon, \
            DaemonClient(daemon.paths.socket) as client:
        client.call(calls.start())
        client.call(calls.wait(None, 5))
        daemon.print([("api", probe), ("api", "GET /v1/orders 200 9ms"), ("api", probe)])
        write_archive(record(client, doctor=[], wait=None, mask=lambda data: data),
                      tmp_path / "report.zip")
        viewer = ReportClient.open(tmp_path / "report.zip")
        for request in (calls.logs(), calls.logs(probes=False),
                        calls.logs(["api"], q="GET", probes=False)):
            assert await viewer.call(request) == client.call(request), request.query
    shown = [r.line for r in (await viewer.call(calls.logs(probes=False))).lines]
    assert "GET /v1/orders 200 9ms" in shown and probe not in shown
    assert [r.line for r in (await viewer.call(calls.logs())).lines].count(probe) == 2

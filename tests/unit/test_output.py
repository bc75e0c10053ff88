"""Text rendering of the API's documents, and `--since` parsing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from neodev.cli.render import (
    format_down,
    format_log_line,
    format_status,
    format_verdicts,
    parse_since,
)
from neodev.engine.problems import problem_of
from neodev.errors import ConfigError
from neodev.present import format_bytes, format_duration
from neodev.protocol import Health, LogRecord, ReloadRecord, Status, UnitRecord, UnitState, decode
from neodev.protocol.documents import DownReport
from neodev.protocol.units import Verdict

NOW = 1_767_225_600.0


def unit(name: str, **over: object) -> UnitRecord:
    """A unit as the engine publishes it (its problem decided by the engine's one rule)."""
    base: dict[str, object] = {
        "name": name, "kind": "container", "state": UnitState.RUNNING,
        "health": Health.HEALTHY, "ready": True, "started_at": NOW - 75.0,
        "endpoints": ("127.0.0.1:5432->5432",), "cpu_percent": 1.25,
        "memory_bytes": 52 * 2**20}
    base.update(over)
    record = UnitRecord(**base)  # type: ignore[arg-type]
    return replace(record, problem=problem_of(record))


def status(units: list[UnitRecord], **more: object) -> Status:
    return Status(protocol=1, instance="i", seq=1, profile="local", project="neotool",
                  workspace="/w", units=tuple(units), **more)  # type: ignore[arg-type]


def test_status_table_has_every_column_and_explains_problems() -> None:
    failed = ReloadRecord("build_failed", "src/a.kt", ("src/a.kt",), 1.5, "e: boom", NOW)
    doc = status([
        unit("postgres"),
        unit("backend", kind="process", state=UnitState.BACKOFF, health=Health.NONE,
             restarts=3, crash_loop=True, ready=False,
             reason="crash loop (3 failures in a row; last: exited with code 1); restarting "
                    "in 4.0s", started_at=None,
             endpoints=("http://127.0.0.1:8080",), cpu_percent=None, memory_bytes=None),
        unit("broken", health=Health.UNHEALTHY, health_detail="exit 1: false"),
        unit("web", kind="process", last_reload=failed),
    ])
    text = format_status(doc, now=NOW).splitlines()
    assert text[0] == "profile local · project neotool · /w"
    header = text[1].split()
    assert header == ["UNIT", "KIND", "STATE", "HEALTH", "PORTS/URLS", "UPTIME", "RESTARTS",
                      "CPU", "MEM"]
    assert text[2].split() == ["postgres", "container", "running", "healthy",
                               "127.0.0.1:5432->5432", "1m15s", "0", "1.2%", "52.0MiB"]
    assert text[3].split()[:8] == ["backend", "process", "backoff", "crash-loop", "none",
                                   "http://127.0.0.1:8080", "-", "3"]
    assert ("  backend: crash loop (3 failures in a row; last: exited with code 1); "
            "restarting in 4.0s") in text
    assert "  broken: exit 1: false" in text
    assert ("  web: build failed (src/a.kt), the previous process keeps running: "
            "e: boom") in text


def test_status_lists_a_kind_mirror() -> None:
    report = {"cluster_name": "neodev-staging", "context": "kind-neodev-staging",
              "exists": True, "ready": False, "ingress_url": "http://127.0.0.1",
              "workloads": [{"namespace": "neotool-staging", "kind": "Deployment",
                             "name": "backend", "ready": 1, "desired": 2}],
              "hpas": [], "pods_not_ready": [], "notes": []}
    doc = decode(Status, {"protocol": 1, "instance": "i", "seq": 1, "profile": "local",
                          "project": "p", "workspace": "/w", "units": [],
                          "clusters": {"staging": {**report, "profile": "staging"}}})
    text = format_status(doc)
    assert "cluster neodev-staging (kind-neodev-staging): NOT READY" in text
    assert "WAIT neotool-staging/deployment/backend: 1/2 ready" in text


def test_verdicts_show_reason_and_last_logs_of_failures_only() -> None:
    text = format_verdicts([
        Verdict(unit="db", ok=True, state="running", health="healthy", reason="",
                last_logs=("x",)),
        Verdict(unit="api", ok=False, state="crashed", health="none",
                reason="exited with code 1", last_logs=("Error: port in use",)),
    ])
    assert text.splitlines() == ["ok   db: running, healthy",
                                 "FAIL api: crashed — exited with code 1",
                                 "       | Error: port in use"]


def test_down_report_says_what_was_deleted_and_what_was_kept() -> None:
    report = DownReport(containers=("p-db-1",), network="p_default", volumes=("p_pgdata",))
    assert "volumes kept" in format_down(replace(report, volumes=()), volumes=False)
    text = format_down(report, volumes=True)
    assert "deleted volume p_pgdata (its data is gone)" in text
    assert "removed network p_default" in text


def test_log_line_prefix_is_padded_and_coloured_only_on_a_tty() -> None:
    entry = LogRecord(id=1, unit="db", ts=0.0, stream="stdout", line="ready")
    assert format_log_line(entry, 8, color=False) == "db       | ready"
    coloured = format_log_line(entry, 8, color=True)
    assert coloured.endswith("| \x1b[0mready") and coloured.startswith("\x1b[")
    assert format_log_line(entry, 8, color=True) == coloured  # stable colour per unit


@pytest.mark.parametrize(("value", "expected"), [
    ("10s", 1000.0 - 10), ("5m", 1000.0 - 300), ("1.5h", 1000.0 - 5400), ("1d", 1000.0 - 86400),
])
def test_since_relative(value: str, expected: float) -> None:
    assert parse_since(value, now=1000.0) == expected


def test_since_absolute_and_invalid() -> None:
    stamp = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert parse_since("2026-11-26T10:00:00+00:00") == stamp.timestamp()
    assert parse_since(None) is None
    with pytest.raises(ConfigError, match=r"--since 'yesterday' is not a duration"):
        parse_since("yesterday")


def test_sizes_and_durations() -> None:
    assert format_bytes(None) == "-" and format_bytes(512) == "512B"
    assert format_bytes(3 * 2**30) == "3.0GiB"
    assert format_duration(None) == "-" and format_duration(59) == "59s"
    assert format_duration(3 * 3600 + 120) == "3h02m"

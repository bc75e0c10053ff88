"""Text rendering for the headless commands: status table, verdicts, log lines, down report.

Pure functions over the API's JSON documents, so what `status` prints is exactly what
`status --json` says.
"""

from __future__ import annotations

import re
import time
import zlib
from datetime import UTC, datetime
from typing import Any

import click

from neodev.errors import ConfigError

LOG_COLORS = ("cyan", "yellow", "green", "magenta", "blue", "bright_cyan", "bright_yellow",
              "bright_green", "bright_magenta", "bright_blue")
STATE_COLORS = {"running": "green", "starting": "yellow", "pending": "yellow",
                "backoff": "red", "crashed": "red", "exited": "white", "stopped": "white",
                "stopping": "yellow"}
SINCE_PATTERN = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")


def format_status(doc: dict[str, Any], now: float | None = None) -> str:
    """The status table: unit, kind, state, health, endpoints, uptime, restarts, CPU, memory."""
    now = time.time() if now is None else now
    header = ("UNIT", "KIND", "STATE", "HEALTH", "PORTS/URLS", "UPTIME", "RESTARTS", "CPU",
              "MEM")
    rows = [header]
    for unit in doc["units"]:
        rows.append((
            unit["name"], unit["kind"], _state_text(unit), unit["health"],
            ", ".join(unit.get("endpoints") or []) or "-", format_duration(uptime(unit, now)),
            str(unit["restarts"]),
            "-" if unit.get("cpu_percent") is None else f"{unit['cpu_percent']:.1f}%",
            format_bytes(unit.get("memory_bytes")),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [f"profile {doc['profile']} · project {doc['project']} · {doc['workspace']}"]
    for row in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     .rstrip())
    problems = [u for u in doc["units"] if u["state"] in ("crashed", "backoff") or
                u.get("crash_loop") or u["health"] == "unhealthy" or
                (u["state"] == "pending" and u["reason"])]
    for unit in problems:
        detail = unit["health_detail"] if unit["health"] == "unhealthy" else unit["reason"]
        lines.append(f"  {unit['name']}: {detail}")
    for unit in doc["units"]:
        reload = unit.get("last_reload") or {}
        if reload.get("outcome") == "build_failed":
            lines.append(f"  {unit['name']}: {format_reload(reload)}")
    telemetry = doc.get("telemetry") or {}
    urls = [f"{name} {url}" for name, url in (telemetry.get("urls") or {}).items() if url]
    if urls:
        lines.append("observability: " + " · ".join(urls))
    shipper = telemetry.get("shipper")
    if shipper:
        lines.append(f"logs to Loki: {format_shipper(shipper)}")
    for report in (doc.get("clusters") or {}).values():
        lines.append("")
        lines.append(format_cluster_report(report))
    return "\n".join(lines)


def _state_text(unit: dict[str, Any]) -> str:
    state = str(unit["state"])
    if state in ("exited", "crashed") and unit.get("exit_code") is not None:
        state = f"{state}({unit['exit_code']})"
    if unit.get("crash_loop"):
        state += " crash-loop"
    return state


def uptime(unit: dict[str, Any], now: float) -> float | None:
    """Seconds since the unit's current run began (None while not running)."""
    started = unit.get("started_at")
    return None if started is None else max(now - started, 0.0)


def format_reload(reload: dict[str, Any]) -> str:
    """A unit's latest reload in a few words."""
    outcome = reload.get("outcome")
    if outcome is None:
        return "not reloaded yet"
    if outcome == "ok":
        return f"reloaded, ready {reload.get('duration') or 0:.2f}s after the change"
    if outcome == "build_failed":
        return (f"build failed ({reload.get('cause')}), the previous process keeps running: "
                f"{reload.get('detail')}")
    return f"restarted but not ready: {reload.get('detail')}"


def format_shipper(state: dict[str, Any]) -> str:
    """The Loki shipper in a few words: `shipping (1200 sent)`, `behind 3000`, `Loki down`."""
    name = state.get("state")
    counts = f"{state.get('sent', 0)} sent"
    if state.get("dropped"):
        counts += f", {state['dropped']} dropped"
    if state.get("rejected"):
        counts += f", {state['rejected']} refused: {state.get('last_rejection')}"
    if name == "down":
        return f"Loki down ({state.get('last_error')}); {counts}"
    if name == "behind":
        return f"behind {state.get('behind')} lines; {counts}"
    return f"{name} ({counts})"


def format_verdicts(verdicts: list[dict[str, Any]]) -> str:
    lines = []
    for v in verdicts:
        optional = bool(v.get("optional"))
        mark = "skip" if optional else "ok  " if v["ok"] else "FAIL"
        line = f"{mark} {v['unit']}: {v['state']}"
        if v["health"] not in ("none",):
            line += f", {v['health']}"
        if optional:
            line += f" — optional, not needed: {v['reason']}"
        elif not v["ok"] and v["reason"]:
            line += f" — {v['reason']}"
        lines.append(line)
        if not v["ok"] and not v.get("held_back_by"):
            lines.extend(f"       | {log}" for log in v.get("last_logs") or [])
    return "\n".join(lines)


def format_down(report: dict[str, Any], volumes: bool) -> str:
    lines = [f"removed container {c}" for c in report["containers"]]
    if report.get("network"):
        lines.append(f"removed network {report['network']}")
    if volumes:
        lines.extend(f"deleted volume {v} (its data is gone)" for v in report["volumes"])
        if not report["volumes"]:
            lines.append("no volumes to delete")
    else:
        lines.append("volumes kept (delete them with `neodev down --volumes`)")
    lines.extend(f"problem: {p}" for p in report.get("problems") or [])
    return "\n".join(lines)


def format_log_line(entry: dict[str, Any], width: int, color: bool) -> str:
    """`unit  | line`, the prefix coloured per unit (stable colour) when writing to a TTY."""
    prefix = f"{entry['unit']:<{width}} | "
    if color:
        index = zlib.crc32(entry["unit"].encode()) % len(LOG_COLORS)
        prefix = click.style(prefix, fg=LOG_COLORS[index])
    return prefix + str(entry["line"])


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def format_bytes(value: int | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size:.1f}GiB"


def parse_since(value: str | None, now: float | None = None) -> float | None:
    """`--since` as an epoch timestamp: a relative `10s`/`5m`/`2h`/`1d` or an ISO 8601 time.

    Raises:
        ConfigError: naming the value and the accepted forms.
    """
    if value is None:
        return None
    match = SINCE_PATTERN.match(value.strip())
    if match:
        amount, unit = float(match.group(1)), match.group(2)
        factor = {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
        base = now if now is not None else datetime.now(UTC).timestamp()
        return base - amount * factor
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--since {value!r} is not a duration (10s, 5m, 2h, 1d) or an "
                          "ISO 8601 time (2026-11-26T10:00:00)") from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()
    return parsed.timestamp()


def format_progress(step: dict[str, Any]) -> str:
    """One finished step of a longer operation: `ok      render  (0.4s)  detail`."""
    duration = "" if step.get("duration") is None else f" ({step['duration']:.1f}s)"
    detail = step.get("detail") or ""
    if step["outcome"] == "failed":
        detail = detail.splitlines()[-1] if detail else ""
    line = f"{step['outcome']:<8}{step['step']}{duration}"
    return f"{line}  {detail}".rstrip() if detail and step["outcome"] != "ok" else line


def format_cluster_report(report: dict[str, Any]) -> str:
    """Deployments ready/desired, HPAs current/desired, pods not ready with reasons, notes."""
    if not report["exists"]:
        lines = [f"cluster {report['cluster_name']}: not running"]
    else:
        state = "ready" if report["ready"] else "NOT READY"
        lines = [f"cluster {report['cluster_name']} ({report['context']}): {state}"]
        if report.get("ingress_url"):
            lines.append(f"  ingress   {report['ingress_url']}")
        for w in report["workloads"]:
            mark = "ok  " if w["ready"] >= w["desired"] else "WAIT"
            lines.append(f"  {mark} {w['namespace']}/{w['kind'].lower()}/{w['name']}: "
                         f"{w['ready']}/{w['desired']} ready")
        for h in report["hpas"]:
            readings = ", ".join(h["metrics"])
            lines.append(f"  hpa  {h['namespace']}/{h['name']}: {h['current']} -> "
                         f"{h['desired']} (bounds {h['min_replicas']}-{h['max_replicas']}"
                         f"{'; ' + readings if readings else ''})")
        for pod in report["pods_not_ready"]:
            lines.append(f"  pod  {pod['namespace']}/{pod['name']} {pod['phase']}: "
                         + "; ".join(pod["reasons"]))
    lines.extend(f"  note: {n}" for n in report.get("notes") or [])
    return "\n".join(lines)


def format_snapshots(snapshots: list[dict[str, Any]]) -> str:
    """`neodev db list`: one row per snapshot, oldest first."""
    if not snapshots:
        return "no snapshots (take one with `neodev db snapshot NAME`)"
    rows = [("NAME", "DATABASE", "TAKEN", "SIZE", "")]
    for snap in snapshots:
        taken = datetime.fromtimestamp(snap["taken_at"], UTC).astimezone()
        rows.append((snap["name"], snap["database"], taken.strftime("%Y-%m-%d %H:%M:%S"),
                     format_bytes(snap["size_bytes"]),
                     "automatic (before a restore)" if snap["automatic"] else ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
                     .rstrip() + ("  " + row[4] if row[4] else "") for row in rows)


def format_snapshot_outcome(outcome: dict[str, Any]) -> str:
    """What `db snapshot` / `db restore` did, in one or two lines."""
    paused = outcome.get("paused") or []
    pause = f" ({', '.join(paused)} stopped and started again)" if paused else ""
    seconds = f"{outcome.get('seconds', 0):.1f}s"
    if "restored" in outcome:
        restored = outcome["restored"]
        text = (f"restored {restored['database']} from snapshot {restored['name']} "
                f"in {seconds}{pause}")
        saved = outcome.get("saved")
        if saved:
            text += (f"\nthe data it replaced is snapshot {saved['name']} "
                     f"(`neodev db restore {saved['name']}` to go back)")
        return text
    snap = outcome["snapshot"]
    return (f"snapshot {snap['name']} of {snap['database']} taken in {seconds} "
            f"({format_bytes(snap['size_bytes'])}){pause}")

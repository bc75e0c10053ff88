"""Text rendering for the headless commands: status table, verdicts, log lines, reports.

Pure functions over protocol records, so what `status` prints is exactly what `status --json`
says. The wording of values (durations, sizes, states, reloads) is `neodev.present`'s, shared
with every other client; only the terminal's colours are the CLI's own (click).
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime

import click

from neodev.errors import ConfigError
from neodev.present import (
    format_bytes,
    format_cpu,
    format_duration,
    format_instance,
    format_port_moves,
    reload_summary,
    state_label,
    uptime,
)
from neodev.protocol.cluster import ClusterReport, ProgressStep
from neodev.protocol.db import (
    AUTOMATIC_KEPT,
    DatabaseBranched,
    SnapshotRecord,
    SnapshotRestored,
    SnapshotTaken,
)
from neodev.protocol.documents import DownReport, ShipperState, Status
from neodev.protocol.logs import LogRecord
from neodev.protocol.units import UnitState, Verdict

LOG_COLORS = ("cyan", "yellow", "green", "magenta", "blue", "bright_cyan", "bright_yellow",
              "bright_green", "bright_magenta", "bright_blue")
SINCE_PATTERN = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")


def format_status(doc: Status, now: float | None = None) -> str:
    """The status table: unit, kind, state, health, endpoints, uptime, restarts, CPU, memory;
    then why each unit that is a problem (or waits) is where it is."""
    now = time.time() if now is None else now
    header = ("UNIT", "KIND", "STATE", "HEALTH", "PORTS/URLS", "UPTIME", "RESTARTS", "CPU",
              "MEM")
    rows = [header]
    for unit in doc.units:
        rows.append((unit.name, unit.kind, state_label(unit), str(unit.health),
                     ", ".join(unit.endpoints) or "-", format_duration(uptime(unit, now)),
                     str(unit.restarts), format_cpu(unit.cpu_percent),
                     format_bytes(unit.memory_bytes)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    who = (format_instance(doc.instance_info) if doc.instance_info.name
           else f"project {doc.project}")
    lines = [f"profile {doc.profile} · {who} · {doc.workspace}"]
    for row in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     .rstrip())
    for unit in doc.units:
        waiting = unit.state is UnitState.PENDING and unit.reason
        if unit.problem or waiting:
            lines.append(f"  {unit.name}: {unit.problem or unit.reason}")
    for unit in doc.units:
        if unit.last_reload is not None and unit.last_reload.outcome == "build_failed":
            lines.append(f"  {unit.name}: {reload_summary(unit.last_reload)}")
    moves = format_port_moves(doc.instance_info)
    if moves:
        lines.append(f"ports of this instance: {moves}")
    urls = [f"{name} {url}" for name, url in doc.telemetry.urls.items() if url]
    if urls:
        lines.append("observability: " + " · ".join(urls))
    if doc.telemetry.shipper is not None:
        lines.append(f"logs to Loki: {format_shipper(doc.telemetry.shipper)}")
    for report in doc.clusters.values():
        lines.append("")
        lines.append(format_cluster_report(report))
    return "\n".join(lines)


def format_shipper(state: ShipperState) -> str:
    """The Loki shipper in a few words: `shipping (1200 sent)`, `behind 3000`, `Loki down`."""
    counts = f"{state.sent} sent"
    if state.dropped:
        counts += f", {state.dropped} dropped"
    if state.rejected:
        counts += f", {state.rejected} refused: {state.last_rejection}"
    if state.state == "down":
        return f"Loki down ({state.last_error}); {counts}"
    if state.state == "behind":
        return f"behind {state.behind} lines; {counts}"
    return f"{state.state} ({counts})"


def format_verdicts(verdicts: Iterable[Verdict]) -> str:
    lines = []
    for v in verdicts:
        mark = "skip" if v.optional else "ok  " if v.ok else "FAIL"
        line = f"{mark} {v.unit}: {v.state}"
        if v.health != "none":
            line += f", {v.health}"
        if v.optional:
            line += f" — optional, not needed: {v.reason}"
        elif not v.ok and v.reason:
            line += f" — {v.reason}"
        if not v.ok and v.kind:
            line += f" [{v.kind}]"
        lines.append(line)
        if not v.ok and v.last_probe and v.last_probe not in v.reason:
            lines.append(f"       probe: {v.last_probe}")
        if not v.ok and not v.held_back_by:
            lines.extend(f"       | {log}" for log in v.last_logs)
    return "\n".join(lines)


def format_branched(branched: DatabaseBranched) -> str:
    """`--db-from`: what was copied, from where, how fast."""
    what = f"snapshot {branched.snapshot} of " if branched.snapshot else ""
    return (f"{branched.server}: started from a copy of {what}instance {branched.source}'s "
            f"database ({format_bytes(branched.copied_bytes)} copied in "
            f"{branched.copy_seconds:.1f} s, ready in {branched.seconds:.1f} s)")


def format_down(report: DownReport, volumes: bool) -> str:
    lines = [f"removed container {c}" for c in report.containers]
    if report.network:
        lines.append(f"removed network {report.network}")
    if volumes:
        lines.extend(f"deleted volume {v} (its data is gone)" for v in report.volumes)
        if not report.volumes:
            lines.append("no volumes to delete")
    else:
        lines.append("volumes kept (delete them with `neodev down --volumes`)")
    lines.extend(f"problem: {p}" for p in report.problems)
    lines.extend(f"left alone: {o}" for o in report.left_alone)
    return "\n".join(lines)


def format_log_line(entry: LogRecord, width: int, color: bool) -> str:
    """`unit  | line`, the prefix coloured per unit (stable colour) when writing to a TTY."""
    prefix = f"{entry.unit:<{width}} | "
    if color:
        index = zlib.crc32(entry.unit.encode()) % len(LOG_COLORS)
        prefix = click.style(prefix, fg=LOG_COLORS[index])
    return prefix + entry.line


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


def format_progress(step: ProgressStep) -> str:
    """One finished step of a longer operation: `ok      render  (0.4s)  detail`."""
    duration = "" if step.duration is None else f" ({step.duration:.1f}s)"
    detail = step.detail
    if step.outcome == "failed":
        detail = detail.splitlines()[-1] if detail else ""
    line = f"{step.outcome:<8}{step.step}{duration}"
    return f"{line}  {detail}".rstrip() if detail and step.outcome != "ok" else line


def format_cluster_report(report: ClusterReport) -> str:
    """Deployments ready/desired, HPAs current/desired, pods not ready with reasons, notes."""
    if not report.exists:
        lines = [f"cluster {report.cluster_name}: not running"]
    else:
        state = "ready" if report.ready else "NOT READY"
        lines = [f"cluster {report.cluster_name} ({report.context}): {state}"]
        if report.ingress_url:
            lines.append(f"  ingress   {report.ingress_url}")
        for w in report.workloads:
            mark = "ok  " if w.ok else "WAIT"
            lines.append(f"  {mark} {w.namespace}/{w.kind.lower()}/{w.name}: "
                         f"{w.ready}/{w.desired} ready")
        for h in report.hpas:
            readings = ", ".join(h.metrics)
            lines.append(f"  hpa  {h.namespace}/{h.name}: {h.current} -> "
                         f"{h.desired} (bounds {h.min_replicas}-{h.max_replicas}"
                         f"{'; ' + readings if readings else ''})")
        for pod in report.pods_not_ready:
            lines.append(f"  pod  {pod.namespace}/{pod.name} {pod.phase}: "
                         + "; ".join(pod.reasons))
    lines.extend(f"  note: {n}" for n in report.notes)
    return "\n".join(lines)


def format_snapshots(snapshots: Iterable[SnapshotRecord]) -> str:
    """`neodev db list`: one row per snapshot, oldest first; the automatic snapshot the next
    restore will drop (the budget is full) says so."""
    snapshots = list(snapshots)
    automatic = [s for s in snapshots if s.automatic]
    doomed = automatic[0] if len(automatic) >= AUTOMATIC_KEPT else None
    rows = [("NAME", "DATABASE", "TAKEN", "SIZE", "")]
    for snap in snapshots:
        taken = datetime.fromtimestamp(snap.taken_at, UTC).astimezone()
        note = ""
        if snap.automatic:
            note = ("automatic (before a restore; the next restore drops it)" if snap is doomed
                    else "automatic (before a restore)")
        rows.append((snap.name, snap.database, taken.strftime("%Y-%m-%d %H:%M:%S"),
                     format_bytes(snap.size_bytes), note))
    if len(rows) == 1:
        return "no snapshots (take one with `neodev db snapshot NAME`)"
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
                     .rstrip() + ("  " + row[4] if row[4] else "") for row in rows)


def format_snapshot_outcome(outcome: SnapshotTaken | SnapshotRestored) -> str:
    """What `db snapshot` / `db restore` did, in one or two lines."""
    pause = f" ({', '.join(outcome.paused)} stopped and started again)" if outcome.paused else ""
    seconds = f"{outcome.seconds:.1f}s"
    if isinstance(outcome, SnapshotRestored):
        restored = outcome.restored
        text = (f"restored {restored.database} from snapshot {restored.name} "
                f"in {seconds}{pause}")
        if outcome.saved is not None:
            text += (f"\nthe data it replaced is snapshot {outcome.saved.name} "
                     f"(`neodev db restore {outcome.saved.name}` to go back)")
        for pruned in outcome.pruned:
            text += (f"\ndropped the oldest automatic snapshot {pruned.name} (the newest "
                     f"{AUTOMATIC_KEPT} are kept)")
        return text
    snap = outcome.snapshot
    return (f"snapshot {snap.name} of {snap.database} taken in {seconds} "
            f"({format_bytes(snap.size_bytes)}){pause}")

"""How records read to a person: durations, sizes, uptime, states and reload outcomes.

One wording for every client — the CLI's tables, the dashboard, the agent server, the report
viewer — so a unit reads the same wherever it is shown. Pure functions over protocol records;
no terminal styling (the CLI colours with click, the dashboard with rich).
"""

from __future__ import annotations

from neodev.protocol.documents import InstanceInfo
from neodev.protocol.units import ReloadRecord, UnitRecord, UnitState


def format_duration(seconds: float | None) -> str:
    """`59s`, `1m15s`, `3h02m`; `-` for none."""
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def format_bytes(value: int | None) -> str:
    """`512B`, `52.0MiB`, `3.0GiB`; `-` for none."""
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size:.1f}GiB"


def format_cpu(percent: float | None) -> str:
    return "-" if percent is None else f"{percent:.1f}%"


def uptime(record: UnitRecord, now: float) -> float | None:
    """Seconds since the unit's current run began (None while not running)."""
    return None if record.started_at is None else max(now - record.started_at, 0.0)


def state_label(record: UnitRecord, loop_mark: str = " crash-loop") -> str:
    """`running`, `exited(0)`, `crashed(1) crash-loop` (the dashboard's narrow column marks a
    loop shorter)."""
    label = str(record.state)
    if record.state in (UnitState.EXITED, UnitState.CRASHED) and record.exit_code is not None:
        label = f"{label}({record.exit_code})"
    if record.crash_loop:
        label += loop_mark
    return label


def reload_summary(reload: ReloadRecord | None) -> str:
    """A unit's latest reload in a sentence."""
    if reload is None:
        return "not reloaded yet"
    if reload.outcome == "ok":
        return f"reloaded, ready {reload.duration or 0:.2f}s after the change"
    if reload.outcome == "build_failed":
        return (f"build failed ({reload.cause}), the previous process keeps running: "
                f"{reload.detail}")
    return f"restarted but not ready: {reload.detail}"


def reload_short(reload: ReloadRecord | None) -> str:
    """A unit's latest reload in a table cell: `ok 0.12s`, `build failed`, `not ready`."""
    if reload is None:
        return "-"
    if reload.outcome == "ok":
        return f"ok {reload.duration or 0:.2f}s"
    return "build failed" if reload.outcome == "build_failed" else "not ready"


def reload_failed(reload: ReloadRecord | None) -> bool:
    """Whether the latest reload did not bring the new code up."""
    return reload is not None and reload.outcome != "ok"


THE_PROFILES_PORTS = "the profile's ports"


def port_span(info: InstanceInfo) -> str | None:
    """`20000-20007`: the ports of an instance's block; None with the profile's own ports."""
    if info.profile_ports or info.port_block is None:
        return None
    hosts = [p.host for p in info.ports]
    return f"{min(hosts)}-{max(hosts)}" if hosts else f"block {info.port_block}"


def format_instance(info: InstanceInfo) -> str:
    """`instance neotool (the profile's ports)`, `instance feature-x (ports 20000-20007)`."""
    span = port_span(info)
    return f"instance {info.name} ({f'ports {span}' if span else THE_PROFILES_PORTS})"


def format_port_moves(info: InstanceInfo) -> str:
    """Each declared port and the one the instance uses instead: `postgres 5432→20004`; empty
    with the profile's own ports."""
    return " · ".join(f"{p.unit} {p.declared}→{p.host}" for p in info.ports
                      if p.declared != p.host)

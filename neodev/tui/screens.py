"""The dashboard's other screens: a unit's details, the key help, the `down --volumes` question.

Each is self-contained: it is handed what it shows (the details document of `GET
/v1/units/{name}`, the app's bindings, the volume names) and never talks to the daemon itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Label, Static

from neodev.present import reload_summary
from neodev.protocol.codec import encode
from neodev.protocol.units import ProbeDetail, UnitDetails


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts).strftime("%H:%M:%S.%f")[:-3]


def _exit_code(code: int | None) -> str:
    """A last exit code as a person reads it: `-` before any exit (not Python's `None`)."""
    return "-" if code is None else str(code)


def details_renderables(details: UnitDetails) -> list[Any]:
    """The details as readable tables (pure: tested without a screen)."""
    status = details.status
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    spec = details.spec
    what = spec.get("image") or " ".join(spec.get("command") or []) or "-"
    backoff = details.backoff
    rows = [("unit", f"{details.name} ({details.kind})"),
            ("state", f"{status.state} · health {status.health} · "
                      f"{'ready' if status.ready else 'not ready'}"),
            ("why", status.reason or "-"),
            ("health check", status.health_detail or "-"),
            ("runs", what),
            ("cwd", str(spec.get("cwd") or "-")),
            ("restart", f"{details.restart} · restarts {status.restarts} · failures "
                        f"{status.failures}" + (" · crash loop" if status.crash_loop else "")),
            ("backoff", "" if backoff is None else ", ".join(
                f"{k} {v}" for k, v in encode(backoff).items())),
            ("last exit", _exit_code(details.last_exit_code)),
            ("readiness", _probe(details.readiness)),
            ("liveness", _probe(details.liveness))]
    if details.last_reload is not None:
        rows.append(("last reload", reload_summary(details.last_reload)))
    for name, value in rows:
        head.add_row(name, Text(str(value)))
    out: list[Any] = [head]

    out.append(_ports(details))

    deps = Table(title="depends on", title_justify="left")
    for column in ("unit", "condition", "met", "it is"):
        deps.add_column(column)
    for dep in details.depends_on:
        deps.add_row(dep.service, dep.condition, "yes" if dep.met else "no", dep.state)
    out.append(deps)

    env = Table(title="environment (secrets masked)", title_justify="left")
    env.add_column("name")
    env.add_column("value", overflow="fold")
    values = spec.get("env") or spec.get("environment") or {}
    for key in sorted(values):
        env.add_row(key, str(values[key]))
    out.append(env)

    timeline = Table(title="start timeline", title_justify="left")
    for column in ("time", "step", "detail"):
        timeline.add_column(column)
    for entry in details.timeline:
        timeline.add_row(_when(entry.ts), entry.what, entry.detail)
    out.append(timeline)
    return out


def _ports(details: UnitDetails) -> Table:
    """A unit's ports; a host address is never cut (the other columns give way)."""
    rows = []
    for port in details.ports:
        if port.container_port is None:  # a process: it listens on the host itself
            rows.append((str(port.port), f"{port.host_ip}:{port.port}", "-", port.protocol))
        else:
            rows.append((str(port.container_port),
                         f"{port.host_ip}:{port.declared_host_port or 'any'}",
                         str(port.published_host_port or "-"), port.protocol))
    table = Table(title="ports", title_justify="left", expand=False)
    table.add_column("port")
    table.add_column("host", no_wrap=True, min_width=max((len(r[1]) for r in rows), default=4))
    table.add_column("published")
    table.add_column("protocol")
    for row in rows:
        table.add_row(*row)
    return table


def _probe(probe: ProbeDetail | None) -> str:
    if probe is None:
        return "-"
    target = probe.url or (f"{probe.host}:{probe.port}" if probe.kind == "tcp" else
                           " ".join(probe.command) or probe.pattern)
    return (f"{probe.kind} {target or ''} · every {probe.interval}s · "
            f"{probe.retries} retries · start period {probe.start_period}s")


class DetailsScreen(Screen[None]):
    """Everything `GET /v1/units/{name}` gives, secrets masked."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back", id="details.back")]

    def __init__(self, details: UnitDetails) -> None:
        super().__init__()
        self.details = details

    def compose(self) -> ComposeResult:
        yield Label(f" {self.details.name} — details", id="details-title")
        with VerticalScroll(id="details-body"):
            for renderable in details_renderables(self.details):
                yield Static(renderable)
        yield Footer()


class HelpScreen(ModalScreen[None]):
    """Every binding of the dashboard, with its key (after the user's keymap)."""

    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close", id="help.close")]

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        table = Table(title="neodev — keys", expand=True)
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("does")
        table.add_column("id", style="dim")
        for key, description, binding_id in self.rows:
            table.add_row(key, description, binding_id)
        with VerticalScroll(id="help-body"):
            yield Static(table)
            yield Static(Text("Remap keys in ~/.config/neodev/keymap.toml (or $NEODEV_KEYMAP): "
                              "[keys] restart = \"ctrl+r\" — the ids are on the right.",
                              style="dim"))


class ConfirmDown(ModalScreen[bool]):
    """`down --volumes` deletes data: say which volumes, and ask."""

    BINDINGS = [Binding("escape,n", "dismiss(False)", "No", id="confirm.no"),
                Binding("y", "dismiss(True)", "Yes, delete", id="confirm.yes")]

    def __init__(self, volumes: list[str]) -> None:
        super().__init__()
        self.volumes = volumes

    def compose(self) -> ComposeResult:
        names = "\n".join(f"  • {v}" for v in self.volumes) or "  (no named volumes)"
        yield Static(Text(f"Stop everything, remove the containers and DELETE these volumes "
                          f"(their data is gone):\n{names}\n\nDelete? (y/n)"), id="confirm-text")
        with Horizontal(id="confirm-buttons"):
            yield Button("Delete the data", variant="error", id="yes")
            yield Button("Keep it", variant="primary", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

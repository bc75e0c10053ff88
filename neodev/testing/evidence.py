"""The evidence a failing test's report carries: the last log lines of the services it used.

A failed integration test is often explained by the service's side of the story (a constraint
violation, an authentication failure, a crash); the lines are attached to the report as
sections, so they show in the terminal, under xdist, and in JUnit XML, with secrets masked.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class LogSource(Protocol):
    """What can tell a service's last log lines (`NeodevSession`)."""

    def logs(self, name: str, lines: int) -> str | None: ...


def log_sections(source: LogSource, services: Iterable[str], lines: int
                 ) -> list[tuple[str, str]]:
    """(header, text) report sections, one per service that was started; masked already."""
    sections = []
    for name in services:
        text = source.logs(name, lines)
        if text is not None:
            sections.append((f"neodev: last {lines} log lines of service {name}",
                             text.rstrip() or "(no output)"))
    return sections

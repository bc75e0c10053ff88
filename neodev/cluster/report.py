"""Cluster checks the CLI shows without a daemon: whether each external tool is usable.

The records a cluster operation hands back over the socket (progress steps, the report) are
protocol records: `neodev.protocol.cluster`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ToolCheck:
    """Whether one external tool the cluster needs is usable (doctor shows these too)."""

    name: str
    ok: bool
    path: str | None = None
    version: str = ""
    hint: str = ""
    """How to install or start it, when not ok."""
    detail: str = ""

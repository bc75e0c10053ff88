"""Readiness strategies shared by every unit (http, tcp, exec, log line) and their tracker."""

from neodev.health.probes import (
    ExecProbe,
    HttpProbe,
    LogLineProbe,
    ProbeResult,
    Strategy,
    TcpProbe,
    build_strategy,
)
from neodev.health.tracker import ProbeTracker

__all__ = [
    "ExecProbe",
    "HttpProbe",
    "LogLineProbe",
    "ProbeResult",
    "ProbeTracker",
    "Strategy",
    "TcpProbe",
    "build_strategy",
]

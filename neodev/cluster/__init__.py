"""The kind mirror of the staging/prod topology: render, cluster, images, apply, status.

Public API (used by the CLI, the daemon and doctor):
- `cluster_up(plan, paths, progress, executor=...) -> ClusterReport`
- `cluster_status(plan, paths, progress, executor=...) -> ClusterReport`
- `cluster_down(plan, paths, progress, executor=...) -> ClusterReport`
- `check_tools(executor=...) -> list[ToolCheck]`
- `ProgressStep(step, outcome, duration, detail)`, `ClusterReport` (protocol records)
"""

from neodev.cluster.api import cluster_down, cluster_spec, cluster_status, cluster_up
from neodev.cluster.commands import (
    CommandResult,
    Executor,
    Step,
    run_subprocess,
)
from neodev.cluster.report import ToolCheck
from neodev.cluster.tools import check_tools
from neodev.protocol.cluster import ClusterReport, ProgressStep

__all__ = [
    "ClusterReport",
    "CommandResult",
    "Executor",
    "ProgressStep",
    "Step",
    "ToolCheck",
    "check_tools",
    "cluster_down",
    "cluster_spec",
    "cluster_status",
    "cluster_up",
    "run_subprocess",
]

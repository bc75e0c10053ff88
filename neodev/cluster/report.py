"""What cluster operations hand back: progress steps, tool checks and the cluster report.

Plain frozen dataclasses with `to_dict()`, so the daemon can put them on its event stream and in
API answers as JSON, and the CLI can print them, without knowing how they were produced.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Outcome = Literal["running", "ok", "failed", "skipped"]


@dataclass(frozen=True)
class ProgressStep:
    """One step of `cluster up/down/status`: emitted as `running`, then once with its outcome."""

    step: str
    """Stable step id, e.g. `cluster-create`, `image-push:backend`, `apply`."""
    outcome: Outcome
    duration: float | None = None
    """Seconds the step took (None while running)."""
    detail: str = ""
    """The command line, why it was skipped, or the error output's last lines."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WorkloadStatus:
    """Ready versus desired replicas of one Deployment or StatefulSet."""

    namespace: str
    kind: str
    name: str
    ready: int
    desired: int

    @property
    def ok(self) -> bool:
        return self.ready >= self.desired


@dataclass(frozen=True)
class HpaStatus:
    """One HorizontalPodAutoscaler: bounds, current and desired replicas, metric readings."""

    namespace: str
    name: str
    target: str
    min_replicas: int
    max_replicas: int
    current: int
    desired: int
    metrics: tuple[str, ...] = ()
    """Readings such as `cpu 12%/70%`; `cpu ?/70%` while metrics-server has no data yet."""


@dataclass(frozen=True)
class PodIssue:
    """A pod that is not ready, with the reasons found in its status and its Warning events."""

    namespace: str
    name: str
    phase: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClusterReport:
    """The state of one profile's kind mirror, as `cluster up` and `cluster status` return it."""

    profile: str
    cluster_name: str
    context: str
    exists: bool
    registry: str = ""
    """Push address of the local registry, e.g. `localhost:5001`."""
    ingress_url: str = ""
    workloads: tuple[WorkloadStatus, ...] = ()
    hpas: tuple[HpaStatus, ...] = ()
    pods_not_ready: tuple[PodIssue, ...] = ()
    steps: tuple[ProgressStep, ...] = ()
    notes: tuple[str, ...] = field(default=())
    """Things the person should know (registry kept, generated secrets and where they are)."""

    @property
    def ready(self) -> bool:
        """True when the cluster exists and every workload has all its replicas ready."""
        return self.exists and all(w.ok for w in self.workloads) and not self.pods_not_ready

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (tuples become lists)."""
        data = asdict(self)
        data["ready"] = self.ready
        return data

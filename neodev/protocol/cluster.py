"""The kind mirror's records: progress steps, the cluster report, and the job that made it.

A cluster operation runs as a job of the daemon (`POST /v1/jobs`); its progress is `job`
events carrying the whole `JobRecord`, and its report is kept for `status`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from neodev.jsontypes import JsonObject

Outcome = Literal["running", "ok", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class ProgressStep:
    """One step of `cluster up/down/status`: emitted as `running`, then once with its outcome."""

    step: str
    """Stable step id, e.g. `cluster-create`, `image-push:backend`, `apply`."""
    outcome: Outcome
    duration: float | None = None
    """Seconds the step took (None while running)."""
    detail: str = ""
    """The command line, why it was skipped, or the error output's last lines."""


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class PodIssue:
    """A pod that is not ready, with the reasons found in its status and its Warning events."""

    namespace: str
    name: str
    phase: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ClusterReport:
    """The state of one profile's kind mirror, as `cluster up` and `cluster status` return it."""

    JSON_PROPERTIES: ClassVar[tuple[str, ...]] = ("ready",)
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
    notes: tuple[str, ...] = ()
    """Things the person should know (registry kept, generated secrets and where they are)."""

    @property
    def ready(self) -> bool:
        """True when the cluster exists and every workload has all its replicas ready."""
        return self.exists and all(w.ok for w in self.workloads) and not self.pods_not_ready


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A long operation the daemon runs on its own (a cluster mirror up/status/down)."""

    id: str
    kind: str
    """cluster"""
    action: str
    target: str
    """e.g. the cluster profile (staging, prod)."""
    state: str = "running"
    """running | succeeded | failed"""
    started_at: float = 0.0
    ended_at: float | None = None
    steps: tuple[ProgressStep, ...] = ()
    """Progress so far."""
    report: ClusterReport | None = None
    error: JsonObject | None = None
    """The error that ended it, as `NeodevError.to_dict` gives it (`error_from_dict` reads it)."""


@dataclass(frozen=True, slots=True)
class Jobs:
    """`GET /v1/jobs`."""

    jobs: tuple[JobRecord, ...] = ()

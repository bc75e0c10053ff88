"""Long operations as jobs the daemon owns: a cluster mirror up, status or down.

A job belongs to the daemon, not to the HTTP request that started it: a client that
disconnects does not cancel it nor release the lock while kind and kubectl keep running; the
report is kept; any client can follow a running job (`GET /v1/jobs/{id}/follow`) or read its
record later. One cluster job runs at a time per workspace: asking for the same operation
again gives the running job, another operation is refused naming it. Progress is published as
`job` events with the whole job record — never as a pseudo-unit on the unit stream.

`neodev.cluster` is synchronous (it runs kind, kubectl and docker); each job runs it in a
worker thread and every progress step comes back to the event loop. It is imported by the
first job, as is the profile loader: both need yaml, which a daemon that never mirrors a
cluster does not import.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from neodev.engine.events import EventBus
from neodev.errors import JobBusyError, NeodevError, RequestError, UnknownJobError
from neodev.paths import WorkspacePaths
from neodev.protocol.cluster import ClusterReport, JobRecord, ProgressStep
from neodev.protocol.events import JobChanged

if TYPE_CHECKING:
    from neodev.cluster import ClusterReport, ProgressStep
    from neodev.config.model import EnvironmentPlan

ClusterAction = Callable[..., "ClusterReport"]


def _cluster(action: str) -> ClusterAction:
    """`neodev.cluster`'s operation `action`, imported when a job runs it."""
    def run(plan: EnvironmentPlan, paths: WorkspacePaths,
            progress: Callable[[ProgressStep], None]) -> ClusterReport:
        from neodev.cluster import cluster_down, cluster_status, cluster_up

        operations = {"up": cluster_up, "status": cluster_status, "down": cluster_down}
        return operations[action](plan, paths, progress)
    return run


CLUSTER_ACTIONS: dict[str, ClusterAction] = {a: _cluster(a) for a in ("up", "status", "down")}
KEPT_JOBS = 50
"""Finished jobs remembered (their reports); the oldest are forgotten first."""


class Jobs:
    """The daemon's jobs: submit, read, follow; the latest cluster report per profile.

    Args:
        paths: The workspace.
        bus: Where `job` events go.
        wall: Wall clock.
        actions: The cluster operations (injected in tests).
        instance: The instance the daemon runs: a profile mirrored for it is loaded as this
            instance's, so its kind cluster carries the instance's name (`neodev-<instance>-
            <profile>`, or `neodev-<profile>` for the instance holding the profile's name).
        port_block: The instance's block of host ports (None: it has the profile's ports): the
            mirror's ingress is served on the block's last two ports, not on 80/443.
    """

    def __init__(self, paths: WorkspacePaths, bus: EventBus, wall: Callable[[], float],
                 actions: dict[str, ClusterAction] | None = None,
                 instance: str | None = None, port_block: int | None = None) -> None:
        self._paths = paths
        self._instance = instance
        self._port_block = port_block
        self._bus = bus
        self._wall = wall
        self._actions = actions or CLUSTER_ACTIONS
        self._jobs: dict[str, JobRecord] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.reports: dict[str, ClusterReport] = {}
        """Latest cluster report per profile (dropped after a successful `down`)."""

    def list(self) -> list[JobRecord]:
        return list(self._jobs.values())

    def get(self, job_id: str) -> JobRecord:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise UnknownJobError(job_id) from None

    def submit_cluster(self, action: str, profile: str) -> JobRecord:
        """Start a cluster operation (or return the same one already running).

        Raises:
            RequestError: an unknown action (before anything runs).
            ConfigError: no such profile.
            JobBusyError: another cluster operation is running.
        """
        from neodev.config.loader import resolve_profile

        if action not in self._actions:
            raise RequestError(f"unknown cluster action {action!r} (valid: "
                               f"{', '.join(self._actions)})", param="action")
        resolve_profile(self._paths.root, profile)  # an unknown profile fails here, at once
        for job in self._jobs.values():
            if job.kind == "cluster" and job.state == "running":
                if (job.action, job.target) == (action, profile):
                    return job
                raise JobBusyError(job.id, f"cluster {job.action} of {job.target} is running "
                                   f"(job {job.id}); follow it or wait for it to end")
        job = JobRecord(id=uuid.uuid4().hex[:8], kind="cluster", action=action, target=profile,
                        started_at=self._wall())
        self._put(job)
        self._tasks[job.id] = asyncio.create_task(self._run(job.id), name=f"job:{job.id}")
        return job

    async def follow(self, job_id: str) -> AsyncIterator[JobRecord]:
        """The job's record now and at every change, until it has ended."""
        sub = self._bus.subscribe(types=("job",))
        try:
            record = self.get(job_id)
            yield record
            while record.state == "running":
                event = await sub.next()
                if isinstance(event, JobChanged) and event.job.id == job_id:
                    record = event.job
                    yield record
                elif not isinstance(event, JobChanged):  # a resync: read the record again
                    record = self.get(job_id)
                    yield record
        finally:
            sub.close()

    async def close(self) -> None:
        """Forget running jobs' tasks (their threads end with the daemon process)."""
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    def _put(self, job: JobRecord) -> None:
        self._jobs[job.id] = job
        while len(self._jobs) > KEPT_JOBS:
            oldest = next(iter(self._jobs))
            if self._jobs[oldest].state == "running":
                break
            del self._jobs[oldest]
        self._bus.emit(JobChanged, job=job)

    async def _run(self, job_id: str) -> None:
        loop = asyncio.get_running_loop()
        job = self._jobs[job_id]

        def progress(step: ProgressStep) -> None:
            loop.call_soon_threadsafe(self._step, job_id, step)

        def work() -> ClusterReport:
            from neodev.config.loader import load_plan

            instance = self._instance
            plan = load_plan(self._paths.root, job.target, dict(os.environ),
                             name_instance=(lambda _names: instance) if instance else None)
            if self._port_block is not None:  # as the instance's plans are (instance_plan)
                from neodev.config.portmap import apply_port_block

                plan = apply_port_block(plan, self._port_block)
            return self._actions[job.action](plan, self._paths, progress)

        try:
            report = await asyncio.to_thread(work)
        except NeodevError as exc:
            self._end(job_id, error=exc.to_dict())
            return
        except Exception as exc:  # a bug in an operation must end its job, visibly
            self._end(job_id, error=NeodevError(f"cluster {job.action} failed: {exc!r}")
                      .to_dict())
            raise
        if job.action == "down":
            self.reports.pop(job.target, None)
        else:
            self.reports[job.target] = report
        self._end(job_id, report=report)

    def _step(self, job_id: str, step: ProgressStep) -> None:
        job = self._jobs[job_id]
        self._put(replace(job, steps=(*job.steps, step)))

    def _end(self, job_id: str, *, report: ClusterReport | None = None,
             error: dict[str, Any] | None = None) -> None:
        job = self._jobs[job_id]
        self._put(replace(job, state="failed" if error else "succeeded", report=report,
                          error=error, ended_at=self._wall()))
        self._tasks.pop(job_id, None)

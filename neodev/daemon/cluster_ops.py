"""Cluster mirror operations run by the daemon, with progress on the one event stream.

`neodev.cluster` is synchronous (it runs kind, kubectl and docker commands); here each
operation runs in a worker thread and every progress step comes back to the event loop as a
`ProgressEvent` (unit `cluster:<profile>`), so the dashboard and `neodev logs`-style followers
see the same steps the CLI prints. The last report per profile is kept for `neodev status`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

from neodev.cluster import ClusterReport, ProgressStep, cluster_down, cluster_status, cluster_up
from neodev.config.loader import load_plan
from neodev.engine.events import EventBus, ProgressEvent
from neodev.errors import ConfigError, NeodevError
from neodev.paths import WorkspacePaths

ACTIONS: dict[str, Callable[..., ClusterReport]] = {
    "up": cluster_up, "status": cluster_status, "down": cluster_down,
}


class ClusterOperations:
    """Runs cluster up/status/down for the daemon and remembers the latest report."""

    def __init__(self, paths: WorkspacePaths, bus: EventBus) -> None:
        self._paths = paths
        self._bus = bus
        self._lock = asyncio.Lock()
        self.reports: dict[str, dict[str, Any]] = {}
        """Latest report per cluster profile (dropped after a successful `down`)."""

    async def run(self, action: str, profile: str) -> AsyncIterator[dict[str, Any]]:
        """Run one action; yield progress dicts, then a final `report` or `error` dict."""
        if action not in ACTIONS:
            raise ConfigError(f"unknown cluster action {action!r} (valid: up, status, down)")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        unit = f"cluster:{profile}"

        def progress(step: ProgressStep) -> None:
            event = ProgressEvent(unit, step=step.step, outcome=step.outcome,
                                  duration=step.duration, detail=step.detail)
            loop.call_soon_threadsafe(self._publish, queue, event)

        def work() -> ClusterReport:
            plan = load_plan(self._paths.root, profile, dict(os.environ))
            return ACTIONS[action](plan, self._paths, progress)

        async with self._lock:  # one cluster operation at a time per workspace
            task = asyncio.ensure_future(asyncio.to_thread(work))
            while not (task.done() and queue.empty()):
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                else:
                    getter.cancel()
            try:
                report = task.result()
            except NeodevError as exc:
                yield {"type": "error", "error": exc.to_dict()}
                return
            data = report.to_dict()
            if action == "down":
                self.reports.pop(profile, None)
            else:
                self.reports[profile] = data
            yield {"type": "report", "report": data}

    def _publish(self, queue: asyncio.Queue[dict[str, Any]], event: ProgressEvent) -> None:
        self._bus.publish(event)
        queue.put_nowait(event.to_dict())

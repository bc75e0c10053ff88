"""This machine's instances as every frontend shows them (`neodev instances`, the agent server).

The machine's side — the registry, the engine's labels, process trees — is `neodev.inventory`
(the one place a frontend looks beyond its own daemon: an orphaned instance's daemon cannot be
reached through any socket); what a running instance's own daemon knows — its ports and URLs —
is asked of it through the client. Both are put together here, once.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from neodev.client import DaemonClient, calls, find_daemon
from neodev.errors import DaemonError
from neodev.instances.registry import Registry
from neodev.paths import WorkspacePaths
from neodev.protocol.documents import InstanceSummary

if TYPE_CHECKING:
    from neodev.inventory import Engine

NO_ENGINE = ("no Docker engine answers: containers, volumes and database sizes are not "
             "shown")

# `neodev.inventory` (psutil, the docker SDK) is imported when asked for only: the short
# commands of the CLI do not pay for it.


def engine() -> Engine | None:
    """The Docker engine, or None when none answers (say NO_ENGINE then)."""
    from neodev import inventory

    return inventory.engine()


def machine_instances(registry: Registry | None = None, client: Engine | None = None
                      ) -> list[InstanceSummary]:
    """Every instance of this machine, running ones completed by their own daemon."""
    from neodev import inventory

    found = inventory.survey(registry or Registry.of_machine(), client)
    return [completed(summary) for summary in found]


def completed(summary: InstanceSummary) -> InstanceSummary:
    """A running instance, completed with its daemon's ports and URLs."""
    if summary.state != "running":
        return summary
    info = find_daemon(WorkspacePaths(Path(summary.workspace)))
    if info is None:
        return summary
    try:
        with DaemonClient(Path(info.socket)) as client:
            status = client.call(calls.status())
    except DaemonError:
        return summary
    urls = {u.name: u.endpoints[0] for u in status.units
            if u.endpoints and u.endpoints[0].startswith("http")}
    urls.update({k: v for k, v in status.telemetry.urls.items() if v})
    return replace(summary, ports=status.instance_info.ports, urls=urls)

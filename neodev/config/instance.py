"""What the configuration says about an instance: the project names it gives, the kind name.

An instance is a workspace (docs/decisions/instances.md); its name is its compose project.
The loader hands the names the configuration gives (`ProjectNames`) to whoever chooses the
instance's name (`neodev.instances`, which knows the other workspaces of the machine), and
names the kind mirror after the result. Pure: nothing here looks beyond its arguments.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProjectNames:
    """The compose project names the configuration gives, for choosing an instance's name."""

    environment: str | None
    """COMPOSE_PROJECT_NAME (the environment or `.env`), as compose honours it; validated."""
    profile: str
    """The profile's `[project] name`, else the compose files' `name:`, else "neotool"."""


InstanceNamer = Callable[[ProjectNames], str]
"""Chooses the instance's name (its compose project) from the names the configuration gives:
an explicit name, the recorded one, or a new one."""


KIND_NAME_LIMIT = 49
"""Longest kind cluster name: its nodes are `<name>-control-plane` (and `-workerN`), host
names of at most 63 characters."""


def kind_name(project: str, profile_project: str, profile: str,
              configured: str | None = None) -> str:
    """The kind cluster of a profile's mirror: the profile's (`cluster_name`, else
    `neodev-<profile>`) for the instance that holds the profile's project name, that name and
    `-<instance>` for any other, so two checkouts never share (or delete) one mirror."""
    base = configured or f"neodev-{profile}"
    if project == profile_project:
        return base
    name = f"{base}-{project}"
    if len(name) <= KIND_NAME_LIMIT:
        return name
    digest = hashlib.sha256(project.encode()).hexdigest()[:6]
    return f"{name[:KIND_NAME_LIMIT - 7].rstrip('-')}-{digest}"

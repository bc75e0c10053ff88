"""Which instance a workspace is: the precedence of the ways to name it, and its port holding.

Precedence (docs/decisions/instances.md): `--instance NAME` > `NEODEV_INSTANCE` >
`COMPOSE_PROJECT_NAME` (as compose honours it) > the recorded name > a new name. A new name is,
in order, the first one no other workspace holds of: the project this workspace ran before it
was an instance (`.neodev/project`: the checkout people already use keeps its containers,
volumes and data), the profile's project name, the name compose derives from the directory,
that name with 4 hex digits of the workspace's real path. An explicit name another *existing*
workspace holds is refused, naming that workspace; names never merge two workspaces.

Pure: the registry's entries and the workspace's record are read by the caller, under the
registry's lock.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from neodev.config.instance import ProjectNames
from neodev.errors import InstanceError
from neodev.instances import naming
from neodev.instances.registry import InstanceRecord

INSTANCE_VARIABLE = "NEODEV_INSTANCE"


@dataclass(frozen=True)
class Wanted:
    """The names asked for outside the configuration."""

    option: str | None = None
    """`--instance NAME`."""
    environment: str | None = None
    """`NEODEV_INSTANCE`."""


@dataclass(frozen=True)
class Workspace:
    """What is known about the workspace whose instance is chosen."""

    real_path: str
    recorded: InstanceRecord | None
    """Its own record (`.neodev/instance.json`), when it is its own."""
    last_project: str | None
    """`.neodev/project`: the project its last daemon ran."""


def choose_name(workspace: Workspace, names: ProjectNames, wanted: Wanted,
                entries: Sequence[InstanceRecord]) -> str:
    """The instance's name.

    Raises:
        InstanceError: an explicit name is invalid, or held by another existing workspace.
    """
    for source, name in (("--instance", wanted.option), ("NEODEV_INSTANCE", wanted.environment),
                         ("COMPOSE_PROJECT_NAME", names.environment)):
        if name:
            _check_explicit(name, source, workspace, entries)
            return name
    if workspace.recorded is not None:
        return workspace.recorded.name
    taken = {e.name for e in entries if e.workspace != workspace.real_path}
    stem = naming.from_directory(Path(workspace.real_path).name)
    for candidate in (workspace.last_project, names.profile, stem):
        if candidate and naming.is_valid(candidate) and candidate not in taken:
            return candidate
    for digits in (4, 8, 16):
        candidate = naming.suffixed(stem, workspace.real_path, digits)
        if candidate not in taken:
            return candidate
    raise InstanceError(f"no free instance name for {workspace.real_path}: name it with "
                        "--instance NAME", workspace=workspace.real_path)


def _check_explicit(name: str, source: str, workspace: Workspace,
                    entries: Sequence[InstanceRecord]) -> None:
    problem = naming.problem(name)
    if problem is not None:
        raise InstanceError(f"{source}={name!r}: {problem}", instance=name)
    for entry in entries:
        if entry.name == name and entry.workspace != workspace.real_path and entry.exists:
            raise InstanceError(
                f"instance {name!r} ({source}) is the workspace {entry.workspace}: two "
                "workspaces never share an instance (its containers, volumes and data). Choose "
                "another name, or work in that workspace", instance=name,
                workspace=entry.workspace)


def settle_record(workspace: Workspace, name: str, profile: str, names: ProjectNames,
                  entries: Sequence[InstanceRecord]) -> InstanceRecord:
    """The workspace's record once its name is chosen: its own record renamed if need be, or
    a new one, deciding whether it holds the profile's own ports (only when no other existing
    workspace of the profile does: the first instance keeps them, every later one gets a
    block)."""
    recorded = workspace.recorded
    if recorded is not None:
        return replace(recorded, name=name, profile=profile,
                       profile_project=names.profile, daemon_pid=None, daemon_started=None)
    holders = [e for e in entries if e.workspace != workspace.real_path and e.exists
               and e.profile_project == names.profile and e.profile_ports]
    legacy = workspace.last_project if workspace.last_project == name else None
    return InstanceRecord(name=name, workspace=workspace.real_path, profile=profile,
                          profile_project=names.profile, profile_ports=not holders,
                          created=time.time(), legacy_project=legacy)

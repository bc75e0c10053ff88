"""A workspace's plan resolved as its instance: named, recorded, with its ports.

The one place a plan becomes an instance's, for the client that validates a profile before it
spawns a daemon (`neodev.client.spawn`) and for a daemon that loads the profile itself. Under
the registry's lock: the name is chosen (`choose.py`) while the plan is loaded (the loader
hands over the project names the configuration gives), the record is written to the workspace
and the registry, and the plan gets the instance's ports — the profile's own, or its recorded
block. A block not allocated yet is left to the daemon (`blocks.settle_ports`: it needs a bind
test, which a client command does not load).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping

from neodev.config.instance import ProjectNames
from neodev.config.loader import ProfileSource, load_plan
from neodev.config.model import EnvironmentPlan
from neodev.config.portmap import apply_port_block
from neodev.instances.choose import (
    INSTANCE_VARIABLE,
    Wanted,
    Workspace,
    choose_name,
    settle_record,
)
from neodev.instances.registry import (
    InstanceRecord,
    Registry,
    read_instance,
    real_path,
    write_instance,
)
from neodev.paths import WorkspacePaths
from neodev.rendezvous import last_project


def resolve_plan(paths: WorkspacePaths, profile: str, environ: Mapping[str, str] | None = None,
                 source: ProfileSource | None = None, *, option: str | None = None,
                 record: bool = True) -> EnvironmentPlan:
    """Load the workspace's profile as its instance.

    Args:
        paths: The workspace.
        profile: The profile name or file.
        environ: The process environment (default: `os.environ`): `NEODEV_INSTANCE`,
            `COMPOSE_PROJECT_NAME`, `NEODEV_STATE_HOME`, and what the profile uses.
        source: The profile already read.
        option: `--instance NAME`.
        record: Write the instance's record to the workspace and the registry (a start);
            False only computes it (`neodev config`, `doctor`).

    Raises:
        ConfigError: the profile is invalid.
        InstanceError: the name asked for is invalid or another workspace's; the registry
            cannot be changed.
    """
    env = dict(os.environ if environ is None else environ)
    registry = Registry.of_machine(env)
    wanted = Wanted(option=option, environment=env.get(INSTANCE_VARIABLE) or None)
    with registry.locked() if record else contextlib.nullcontext():
        entries = registry.entries()
        workspace = Workspace(real_path(paths), read_instance(paths), last_project(paths))
        given: list[ProjectNames] = []

        def name_instance(names: ProjectNames) -> str:
            given.append(names)
            return choose_name(workspace, names, wanted, entries)

        plan = load_plan(paths.root, profile, env, source=source, name_instance=name_instance)
        settled = settle_record(workspace, plan.project, plan.profile, given[0], entries)
        if record:
            write_instance(paths, settled)
            registry.put(settled)
    return instance_plan(plan, settled)


def instance_plan(plan: EnvironmentPlan, record: InstanceRecord) -> EnvironmentPlan:
    """The plan with the instance's ports (its recorded block) and what it may adopt."""
    legacy = record.legacy_project is not None and record.legacy_project == plan.project
    plan = plan.model_copy(update={"profile_ports": record.profile_ports,
                                   "legacy_resources": legacy})
    if record.port_block is not None:
        plan = apply_port_block(plan, record.port_block)
    return plan


"""A block of host ports for an instance that is not its profile's first.

Blocks start at 20000 in steps of 100 (`neodev.config.portmap`). An instance gets the first
block that no other registered instance of an existing workspace has, and whose ports it
needs are all free now (a bind test, given by the caller: the daemon passes `neodev.ports`'
one check). The block is recorded in the workspace and the registry, under the registry's
lock, and kept across restarts; a port of it taken later is refused at start like any other,
naming the holder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from neodev.config.model import EnvironmentPlan
from neodev.config.portmap import (
    BLOCK_BASE,
    BLOCK_LIMIT,
    BLOCK_STEP,
    apply_port_block,
    declared_ports,
)
from neodev.errors import InstanceError
from neodev.instances.registry import (
    InstanceRecord,
    Registry,
    read_instance,
    write_instance,
)
from neodev.paths import WorkspacePaths

PortFree = Callable[[int], bool]
"""Whether a host port can be bound now (on loopback)."""


def first_free_block(count: int, entries: Sequence[InstanceRecord], workspace: str,
                     is_free: PortFree) -> int:
    """The first block start no other existing workspace's instance holds, whose first
    `count` ports are free.

    Raises:
        InstanceError: no such block below BLOCK_LIMIT.
    """
    held = {e.port_block for e in entries
            if e.port_block is not None and e.workspace != workspace and e.exists}
    for start in range(BLOCK_BASE, BLOCK_LIMIT, BLOCK_STEP):
        if start not in held and all(is_free(p) for p in range(start, start + count)):
            return start
    raise InstanceError(f"no free block of {count} host ports between {BLOCK_BASE} and "
                        f"{BLOCK_LIMIT} for this instance (every block is another instance's "
                        "or in use): `neodev instances prune` frees the blocks of deleted "
                        "workspaces", workspace=workspace)


def settle_ports(paths: WorkspacePaths, plan: EnvironmentPlan, is_free: PortFree,
                 environ: Mapping[str, str] | None = None) -> EnvironmentPlan:
    """The plan with the instance's port block, allocating and recording one when the
    instance needs a block and has none yet; the plan as is otherwise.

    Raises:
        InstanceError: no free block, or the registry cannot be changed.
    """
    if plan.profile_ports or plan.port_block is not None:
        return plan
    registry = Registry.of_machine(environ)
    with registry.locked():
        record = read_instance(paths)
        if record is None or record.name != plan.project:
            return plan  # not an instance's plan (no record): nothing to allocate for
        if record.port_block is None:
            count = len(declared_ports(plan))
            start = first_free_block(count, registry.entries(), record.workspace, is_free)
            record = replace(record, port_block=start, port_count=count)
            write_instance(paths, record)
            registry.put(record)
    assert record.port_block is not None
    return apply_port_block(plan, record.port_block)


def preview_ports(paths: WorkspacePaths, plan: EnvironmentPlan, is_free: PortFree,
                  environ: Mapping[str, str] | None = None) -> EnvironmentPlan:
    """The plan with the block the instance would get at its first start (nothing recorded):
    what `doctor` checks before that start."""
    if plan.profile_ports or plan.port_block is not None:
        return plan
    registry = Registry.of_machine(environ)
    workspace = os.path.realpath(paths.root)
    try:
        start = first_free_block(len(declared_ports(plan)), registry.entries(), workspace,
                                 is_free)
    except InstanceError:
        return plan  # the start will say so
    return apply_port_block(plan, start)

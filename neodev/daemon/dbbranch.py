"""`neodev start --db-from OTHER[:SNAPSHOT]`: a new instance's database branched from another's.

Each instance has a Postgres server and a data volume of its own (docs/decisions/instances.md).
A new one can start from a copy of another instance's data: a physical copy of the running
source server (`neodev.docker.branch`: pg_basebackup in a helper container) into this
instance's fresh volume. Then this instance's server starts on the copy, takes this
instance's own password (the copy holds the source's), and, when a snapshot of the source was
named, has that snapshot restored in place of the database (the copy carries the source's
snapshots: they are databases of its server). Nothing of the source changes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from neodev import pgsql
from neodev.config.postgres import find_postgres, postgres_credentials
from neodev.errors import DatabaseError, InstanceError
from neodev.instances.registry import Registry
from neodev.protocol.db import DatabaseBranched

if TYPE_CHECKING:
    from neodev.daemon.environment import Environment

READY_TIMEOUT = 300.0
"""Seconds the copied server may take to start and answer."""


async def branch_database(env: Environment, source: str, snapshot: str | None = None,
                          service: str | None = None) -> DatabaseBranched:
    """Start this instance's Postgres from a copy of instance `source`'s.

    Raises:
        InstanceError: `source` is not another registered instance.
        DatabaseError: this instance's server runs, or its volume holds data already; the
            source's server is not running; the users differ; the copy failed.
    """
    from neodev.docker.branch import Copied, container_env, copy_cluster, source_container
    from neodev.docker.client import in_own_thread
    from neodev.docker.project import volume_credentials

    began = time.monotonic()
    spec = find_postgres(env.plan, service)
    _check_source(env, source)
    if env.engine.supervisors[spec.name].supervising:
        raise DatabaseError(f"{spec.name} of this instance runs already: --db-from starts a "
                            "new instance's database (`neodev down --volumes` first to replace "
                            "this one's)", title="Target database in use")
    volume = next((m.source for m in spec.volumes if m.type == "volume"), None)
    if volume is None:
        raise DatabaseError(f"{spec.name} has no named data volume to copy into",
                            title="No data volume")
    user, password, _ = postgres_credentials(spec)
    source_env = container_env(await env.clients.call(
        f"find the {spec.service} container of instance {source}",
        lambda c: source_container(c, source, spec.service)))
    if (source_env.get("POSTGRES_USER") or "postgres") != user:
        raise DatabaseError(f"instance {source!r} runs Postgres as user "
                            f"{source_env.get('POSTGRES_USER') or 'postgres'!r}, this one as "
                            f"{user!r}: set POSTGRES_USER alike to branch its data",
                            title="Different database users")
    await env.project.ensure_network()
    await env.project.ensure_volumes([volume], volume_credentials([spec]))

    def copy() -> Copied:
        client = env.clients.fresh()  # its own client: the copy may take minutes
        try:
            found = source_container(client, source, spec.service)
            owner = env.project.owner
            return copy_cluster(client, found, spec, volume, owner.labels if owner else {})
        finally:
            client.close()

    copied = await in_own_thread(copy, "neodev-db-branch")
    await env.start([spec.name])
    verdicts = await env.engine.wait_ready([spec.name], READY_TIMEOUT)
    if not all(v.ok for v in verdicts):
        raise DatabaseError(f"{spec.name} did not become ready on the copied data: "
                            f"{env.engine.status_of(spec.name).reason}",
                            title="Copied database not ready")
    await env.sql(spec, [pgsql.set_password(user, password)])
    if snapshot is not None:
        await env.snapshots.restore(snapshot, spec.name)
    return DatabaseBranched(source=source, server=spec.name, volume=volume,
                            copied_bytes=copied.bytes, copy_seconds=copied.seconds,
                            seconds=round(time.monotonic() - began, 3), snapshot=snapshot)


def _check_source(env: Environment, source: str) -> None:
    if source == env.plan.project:
        raise InstanceError(f"--db-from {source}: that is this instance; name another one "
                            "(`neodev instances` lists them)", instance=source)
    if Registry.of_machine().get(source) is None:
        names = ", ".join(e.name for e in Registry.of_machine().entries()) or "none"
        raise InstanceError(f"--db-from {source}: no such instance on this machine "
                            f"(instances: {names})", instance=source)

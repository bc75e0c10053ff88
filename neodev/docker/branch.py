"""A physical copy of another instance's Postgres server into this instance's data volume.

`neodev start --db-from OTHER` (docs/decisions/instances.md): the copy is Postgres' own
`pg_basebackup` — the server's files streamed while it runs, consistent, with the WAL needed
to start from them — not a dump replayed as SQL. It runs in a helper container made from the
source container's own image (so client and server are the same major version), in the
source container's network namespace (so it connects on 127.0.0.1, where the image's
pg_hba.conf trusts replication connections), as the image's `postgres` user, with the target
volume mounted where the target service mounts it. A target that already holds a database
cluster is refused by the helper before it writes anything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from neodev.config.model import ContainerSpec
from neodev.docker.labels import COMPOSE_SERVICE, NEODEV_INSTANCE
from neodev.errors import DatabaseError

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

TARGET_HOLDS_DATA = 17
"""The helper's exit code when the target already holds a cluster."""
COPY_SCRIPT = """\
set -e
if [ -s "$PGDATA/PG_VERSION" ]; then exit 17; fi
mkdir -p "$PGDATA"
chmod 700 "$PGDATA"
pg_basebackup -h 127.0.0.1 -p "${PGPORT:-5432}" -U "$1" -D "$PGDATA" -X stream -c fast
du -sb "$PGDATA" | cut -f1
"""
DEFAULT_PGDATA = "/var/lib/postgresql/data"
"""The official image's PGDATA up to Postgres 17 (18 and the test image set it in the image)."""


@dataclass(frozen=True)
class Copied:
    """What a copy moved, and how long it took."""

    bytes: int
    seconds: float


def source_container(client: DockerClient, instance: str, service: str) -> Container:
    """The running Postgres container of another instance's service (found by its labels).

    Raises:
        DatabaseError: it is not running.
    """
    found = client.containers.list(filters={"label": [f"{NEODEV_INSTANCE}={instance}",
                                                      f"{COMPOSE_SERVICE}={service}"]})
    if not found:
        raise DatabaseError(f"instance {instance!r} has no running {service!r} container: start "
                            f"it in its workspace first (`neodev start {service}`)",
                            title="Source database not running")
    container: Container = found[0]
    return container


def container_env(container: Container) -> dict[str, str]:
    """A container's environment as it was created (image defaults included)."""
    pairs = (container.attrs.get("Config") or {}).get("Env") or []
    return dict(item.partition("=")[::2] for item in pairs)


def copy_cluster(client: DockerClient, source: Container, target: ContainerSpec, volume: str,
                 labels: dict[str, str]) -> Copied:
    """Copy the source server's whole cluster into `volume` (blocking, minutes for big data).

    Args:
        client: a docker client of its own (the copy may take long).
        source: the running source container.
        target: this instance's Postgres service (where it mounts `volume`).
        volume: the target data volume (created and labelled beforehand).
        labels: labels for the helper container (it is removed when done).

    Raises:
        DatabaseError: the target holds a cluster already, or the copy failed (its output).
    """
    mount = next(m.target for m in target.volumes if m.type == "volume" and m.source == volume)
    env = container_env(source)
    helper = client.containers.create(
        source.image.id, entrypoint=["sh", "-c", COPY_SCRIPT, "neodev-copy",
                                     env.get("POSTGRES_USER") or "postgres"],
        environment={"PGDATA": env.get("PGDATA") or DEFAULT_PGDATA,
                     "PGPASSWORD": env.get("POSTGRES_PASSWORD", "")},
        volumes={volume: {"bind": mount, "mode": "rw"}}, user="postgres",
        network_mode=f"container:{source.id}", labels=labels)
    began = time.monotonic()
    try:
        helper.start()
        code = int(helper.wait()["StatusCode"])
        output = helper.logs(stdout=True, stderr=True).decode("utf-8", "replace").strip()
    finally:
        helper.remove(force=True)
    if code == TARGET_HOLDS_DATA:
        raise DatabaseError(f"volume {volume} already holds a database cluster: --db-from starts "
                            "a new instance's database only (`neodev down --volumes` deletes "
                            "this instance's data first)", title="Target database not empty")
    if code != 0:
        raise DatabaseError(f"pg_basebackup from {source.name} into {volume} failed (exit "
                            f"{code}): {output[-2000:]}", title="Database copy failed")
    size = output.splitlines()[-1] if output else ""
    return Copied(int(size) if size.isdigit() else 0, round(time.monotonic() - began, 3))

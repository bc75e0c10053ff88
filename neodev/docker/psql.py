"""The daemon's SQL executor: the `psql` inside a Postgres container (`docker exec`).

The daemon manages the dev database with the server's own client: no driver to install, no
port to reach, and the image's local socket is trusted (as the official image sets it up), so
the password is passed only in case a custom image asks for it. Each statement is its own
`-c`, so CREATE/DROP DATABASE (which refuse to run inside a transaction) work in one call;
ON_ERROR_STOP makes the first failing statement end the call with the server's message.
The statements themselves are built by `neodev.pgsql`, shared with the pytest plugin.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from neodev.config.model import ContainerSpec
from neodev.config.postgres import postgres_credentials
from neodev.errors import DatabaseError
from neodev.pgsql import MAINTENANCE_DB, Rows

if TYPE_CHECKING:
    # Only their types: the daemon imports this module before it needs the SDK.
    from docker import DockerClient
    from docker.models.containers import Container

    from neodev.docker.client import ClientFactory

FIELD_SEPARATOR = "\x1f"
"""Between the columns of a row: a byte no name, comment (JSON) or size contains."""


def psql(container: Container, user: str, password: str, statements: Sequence[str],
         database: str = MAINTENANCE_DB) -> Rows:
    """Run `statements` one after the other in `database`; the rows the last one returned.

    Blocking (a docker exec): call it on a worker thread.

    Raises:
        DatabaseError: psql failed; the message is the server's (or psql's) own.
    """
    command = ["psql", "-X", "-q", "-A", "-t", "-F", FIELD_SEPARATOR, "-v", "ON_ERROR_STOP=1",
               "-U", user, "-d", database]
    for statement in statements:
        command += ["-c", statement]
    code, (out, err) = container.exec_run(command, environment={"PGPASSWORD": password},
                                          demux=True)
    if code != 0:
        detail = (err or out or b"").decode("utf-8", "replace").strip()
        raise DatabaseError(f"Postgres in {container.name} refused: {detail or f'exit {code}'}",
                            database=database)
    text = (out or b"").decode("utf-8", "replace")
    return [line.split(FIELD_SEPARATOR) for line in text.splitlines() if line]


class PsqlRunner:
    """Runs statements on a Postgres service of a compose project, through `psql` in its
    running container, on a docker worker thread (the event loop never waits on the exec).

    Args:
        project: the compose project whose containers are searched (by their labels).
        clients: the docker clients, asked for at the first statement (the daemon makes
            them, and imports the SDK, only when something needs the engine).
    """

    def __init__(self, project: str, clients: Callable[[], ClientFactory]) -> None:
        self._project = project
        self._clients = clients

    async def __call__(self, spec: ContainerSpec, statements: Sequence[str]) -> Rows:
        """The rows of the last statement, run with the service's own credentials.

        Raises:
            DatabaseError: no running container, or the server refused a statement.
            DockerError: the engine is unreachable.
        """
        from neodev.docker.project import running_service_containers

        user, password, _ = postgres_credentials(spec)
        project = self._project

        def run(client: DockerClient) -> Rows:
            found = running_service_containers(client, project, spec.service)
            if not found:
                raise DatabaseError(f"no running container of {spec.name} in compose project "
                                    f"{project!r}", title="Postgres not running")
            return psql(found[0], user, password, statements)

        return await self._clients().call(f"run SQL in {spec.name}", run)

"""Attach mode: the developer's running Postgres, found the way compose finds its services.

The dev containers carry the compose labels (`com.docker.compose.project=<project>`,
`com.docker.compose.service=<the Postgres service>`), so the running server and its published
port are a label query away, whether neodev or `docker compose` started it. The plugin then works in
databases of its own on that server; the dev database is never touched.
"""

from __future__ import annotations

from pathlib import Path

from docker import DockerClient

from neodev.config.model import ContainerSpec
from neodev.config.postgres import POSTGRES_PORT
from neodev.docker.labels import COMPOSE_PROJECT, COMPOSE_SERVICE
from neodev.docker.project import container_published_port, running_service_containers
from neodev.errors import AttachError
from neodev.testing.endpoints import PostgresService, postgres_endpoint


def dev_postgres(client: DockerClient, project: str, spec: ContainerSpec,
                 password_known: bool, env_file: Path | None) -> PostgresService:
    """The running dev Postgres of `project`, with the profile's credentials.

    Blocking (docker calls): the caller translates SDK errors.

    Args:
        client: a docker client.
        project: the dev environment's compose project.
        spec: the profile's Postgres service (`find_postgres`: whatever its name).
        password_known: False when POSTGRES_PASSWORD was set by no layer (a throwaway value
            cannot log in to a server initialised with the real one).
        env_file: the profile's `.env`, for the message.

    Raises:
        AttachError: what is missing, and how to get it.
    """
    if not password_known:
        raise AttachError(
            "attach mode logs in to the dev environment's Postgres, but POSTGRES_PASSWORD is "
            f"set neither in the environment, nor in {env_file or '.env'}, nor in "
            ".neodev/secrets.env (where `neodev start` generates it). Set it, or run without "
            "--neodev-attach to get a Postgres of the tests' own.")
    where = (f"compose project {project!r}, service {spec.service!r} (labels "
             f"{COMPOSE_PROJECT}={project}, {COMPOSE_SERVICE}={spec.service})")
    found = running_service_containers(client, project, spec.service)
    if not found:
        raise AttachError(f"attach mode: no running Postgres container of {where}. Start the "
                          f"dev environment first: `neodev start --wait {spec.name}`.")
    container = found[0]
    health = ((container.attrs.get("State") or {}).get("Health") or {}).get("Status")
    if health not in (None, "healthy"):
        raise AttachError(f"attach mode: the dev Postgres {container.name} is {health}; wait "
                          "until `neodev status` shows it healthy.")
    port = container_published_port(container, POSTGRES_PORT)
    if port is None:
        raise AttachError(f"attach mode: the dev Postgres {container.name} of {where} does not "
                          f"publish port {POSTGRES_PORT} on the host.")
    return postgres_endpoint(spec, {POSTGRES_PORT: port}, str(container.id))

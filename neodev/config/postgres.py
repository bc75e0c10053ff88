"""What a Postgres service's settings mean: its credentials, its DSN, which service it is.

The image's entrypoint derives the superuser and the first database from the environment;
the dashboard's "copy DSN", the test plugin and `neodev db` all read them here, the same way,
and find the profile's Postgres service here by its settings, whatever its name.
"""

from __future__ import annotations

from urllib.parse import quote

from neodev.config.model import ContainerSpec, EnvironmentPlan
from neodev.errors import ConfigError

POSTGRES_PORT = 5432


def postgres_credentials(spec: ContainerSpec) -> tuple[str, str, str]:
    """(user, password, database) as the image's entrypoint derives them from the environment.

    POSTGRES_USER defaults to `postgres` and POSTGRES_DB to the user, as in the official image.
    """
    env = spec.environment
    user = env.get("POSTGRES_USER") or "postgres"
    return user, env.get("POSTGRES_PASSWORD", ""), env.get("POSTGRES_DB") or user


def libpq_dsn(host: str, port: int, user: str, password: str | None, dbname: str) -> str:
    """A libpq connection URI; user, password and database name percent-encoded."""
    auth = quote(user, safe="")
    if password is not None:
        auth += ":" + quote(password, safe="")
    return f"postgresql://{auth}@{host}:{port}/{quote(dbname, safe='')}"


def is_postgres(spec: ContainerSpec) -> bool:
    """A container the Postgres image's conventions apply to: it serves 5432 and is configured
    through POSTGRES_PASSWORD (or runs an image named postgres)."""
    serves = any(p.container_port == POSTGRES_PORT for p in spec.ports)
    repository = spec.image.rsplit("/", 1)[-1].split(":", 1)[0]
    return (serves and "POSTGRES_PASSWORD" in spec.environment) or "postgres" in repository


def find_postgres(plan: EnvironmentPlan, name: str | None = None,
                  choose_with: str = "--service") -> ContainerSpec:
    """The profile's Postgres service: `name`, or the only one there is.

    `neodev db` and the pytest plugin both find it here, by its settings (`is_postgres`),
    never by its name: a profile may call it `db`.

    Args:
        plan: the profile's plan.
        name: the service asked for (None: the only Postgres service of the profile).
        choose_with: how the caller's user names one, for the message when there are several
            (`--service` for `neodev db`, an ini option for the plugin).

    Raises:
        ConfigError: `name` is not a Postgres service, there is none, or there are several
            and none was named (the message lists them).
    """
    found = {n: s for n, s in plan.containers.items() if is_postgres(s)}
    if name is not None:
        if name not in found:
            raise ConfigError(f"{name!r} is not a Postgres service of profile {plan.profile!r} "
                              f"(Postgres services: {', '.join(found) or 'none'})",
                              file=str(plan.profile_file))
        return found[name]
    if len(found) == 1:
        return next(iter(found.values()))
    if not found:
        raise ConfigError(f"profile {plan.profile!r} has no Postgres service (a container "
                          "serving 5432 with POSTGRES_PASSWORD, or a postgres image)",
                          file=str(plan.profile_file))
    raise ConfigError(f"profile {plan.profile!r} has several Postgres services "
                      f"({', '.join(found)}); name one with {choose_with}",
                      file=str(plan.profile_file))

"""SQL run by the `psql` inside a Postgres container (`docker exec`).

The daemon manages the dev database with the server's own client: no driver to install, no
port to reach, and the image's local socket is trusted (as the official image sets it up), so
the password is passed only in case a custom image asks for it. Each statement is its own
`-c`, so CREATE/DROP DATABASE (which refuse to run inside a transaction) work in one call;
ON_ERROR_STOP makes the first failing statement end the call with the server's message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from neodev.errors import DatabaseError

if TYPE_CHECKING:
    # Only its type: the daemon imports this module (for quoting) before it needs the SDK.
    from docker.models.containers import Container

FIELD_SEPARATOR = "\x1f"
"""Between the columns of a row: a byte no name, comment (JSON) or size contains."""
MAINTENANCE_DB = "postgres"
"""Where CREATE/DROP/ALTER DATABASE run from: initdb creates it, nobody works in it."""


def quote_ident(name: str) -> str:
    """An SQL identifier, double-quoted (any name at all is then safe)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """An SQL string literal (standard_conforming_strings is on since Postgres 9.1)."""
    return "'" + text.replace("'", "''") + "'"


def psql(container: Container, user: str, password: str, statements: Sequence[str],
         database: str = MAINTENANCE_DB) -> list[list[str]]:
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

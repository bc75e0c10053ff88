"""The SQL neodev sends Postgres about whole databases: create, copy, label, seal, drop.

Two features treat databases as units, with the same statements: `neodev db` snapshots (the
daemon; executed by the psql inside the container, `neodev.docker.psql`) and the pytest
plugin's per-test databases cloned from a migrated template (executed through psycopg,
`neodev.testing.databases`). Both copy with `CREATE DATABASE ... TEMPLATE`, which Postgres
refuses while anybody is connected to the source; both seal a copy so that nobody can connect
to or change it; both label their databases with JSON in the database's comment, so what is
theirs is found on the server alone. The statements are built here, once, as plain text with
every name and value quoted here; an executor runs them and returns the rows of the last one
as text, the way psql prints them (NULL as '').

Standard library only: the daemon imports it before it needs the docker SDK, the plugin
before it needs psycopg.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

MAINTENANCE_DB = "postgres"
"""Where CREATE/DROP/ALTER DATABASE run from: initdb creates it, nobody works in it."""
FILE_COPY_SINCE = 150000
"""server_version_num from which CREATE DATABASE takes a STRATEGY (Postgres 15)."""
SERVER_VERSION = "SHOW server_version_num"

Rows = list[list[str]]
"""The rows of a statement, every column as text (NULL as '')."""


class Execute(Protocol):
    """Runs statements one after the other, each in its own transaction (CREATE/DROP
    DATABASE refuse to run inside one); returns the rows of the last.

    Raises:
        DatabaseError: the server refused a statement (its message included).
    """

    def __call__(self, statements: Sequence[str]) -> Rows: ...


def quote_ident(name: str) -> str:
    """An SQL identifier, double-quoted (any name at all is then safe)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """An SQL string literal. With a backslash in it, an escape string (`E'...'`), read the
    same whatever the server's standard_conforming_strings says (as Postgres' own
    quote_literal does)."""
    quoted = "'" + text.replace("'", "''") + "'"
    if "\\" in text:
        return "E" + quoted.replace("\\", "\\\\")
    return quoted


# -- copies and templates ----------------------------------------------------------------


def create_database(name: str, *, template: str | None = None, owner: str | None = None,
                    file_copy: bool = False) -> str:
    """CREATE DATABASE `name`: empty, or a copy of `template` (its files, no replay).

    Args:
        file_copy: STRATEGY = FILE_COPY (15+): files copied with one checkpoint, where the
            default WAL_LOG writes the whole database through the WAL again.
    """
    statement = f"CREATE DATABASE {quote_ident(name)}"
    if template is not None:
        statement += f" TEMPLATE {quote_ident(template)}"
    if owner is not None:
        statement += f" OWNER {quote_ident(owner)}"
    if file_copy:
        statement += " STRATEGY = FILE_COPY"
    return statement


def file_copy_supported(version: Rows) -> bool:
    """Whether the server (the rows of SERVER_VERSION) takes STRATEGY = FILE_COPY."""
    text = version[0][0] if version and version[0] else ""
    return text.isdigit() and int(text) >= FILE_COPY_SINCE


def label_database(name: str, labels: Mapping[str, Any] | None) -> str:
    """COMMENT ON DATABASE: `labels` as JSON (how neodev knows its databases), or none."""
    comment = "NULL" if labels is None else quote_literal(json.dumps(labels, sort_keys=True))
    return f"COMMENT ON DATABASE {quote_ident(name)} IS {comment}"


def read_labels(comment: str | None) -> dict[str, Any]:
    """The labels a database comment holds; {} for no comment, or any other comment."""
    if not comment or not comment.startswith("{"):
        return {}
    try:
        data = json.loads(comment)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def seal_template(name: str) -> str:
    """Make `name` a template nobody can connect to (so it can be copied, and stays as is)."""
    return f"ALTER DATABASE {quote_ident(name)} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"


def unseal_template(name: str, *, reopen: bool = False) -> str:
    """Make `name` an ordinary database again (a template cannot be dropped); `reopen`
    also lets connections in again."""
    statement = f"ALTER DATABASE {quote_ident(name)} WITH IS_TEMPLATE false"
    return statement + (" ALLOW_CONNECTIONS true" if reopen else "")


def rename_database(name: str, new_name: str) -> str:
    return f"ALTER DATABASE {quote_ident(name)} RENAME TO {quote_ident(new_name)}"


def drop_database(name: str) -> list[str]:
    """Unseal, disconnect and drop `name` (an existing database, sealed or not)."""
    return [unseal_template(name), terminate_sessions(name),
            f"DROP DATABASE IF EXISTS {quote_ident(name)}"]


def set_password(role: str, password: str) -> str:
    """ALTER ROLE ... PASSWORD: a server copied from another instance's (`--db-from`) takes
    this instance's own credentials."""
    return f"ALTER ROLE {quote_ident(role)} PASSWORD {quote_literal(password)}"


# -- who is connected --------------------------------------------------------------------


def terminate_sessions(database: str) -> str:
    """Disconnect every other session of `database` (a copy needs its source unused)."""
    return ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = {quote_literal(database)} AND pid <> pg_backend_pid()")


def copies_into(database: str, *, stop: bool = False) -> str:
    """The sessions still running `create_database(database, ...)`: a copy whose client went
    away goes on in the server. With `stop`, they are terminated (Postgres then removes the
    partial copy). Rows: pid (or whether it was signalled)."""
    what = "pg_terminate_backend(pid)" if stop else "pid"
    statement = quote_literal(create_database(database))
    return (f"SELECT {what} FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            f"AND state = 'active' AND starts_with(query, {statement})")


def sessions_of(database: str) -> str:
    """The other sessions of `database`; rows: pid, user, application, address, state."""
    return ("SELECT pid, usename, coalesce(nullif(application_name, ''), 'unnamed client'), "
            "coalesce(host(client_addr), 'local socket'), coalesce(state, '') "
            "FROM pg_stat_activity "
            f"WHERE datname = {quote_literal(database)} AND pid <> pg_backend_pid()")


# -- what is there -----------------------------------------------------------------------


def list_databases(prefix: str | None = None, *, sizes: bool = False) -> str:
    """The server's databases (those whose name starts with `prefix`), by name; rows: name,
    [size in bytes when `sizes`], comment."""
    columns = "datname, " + ("pg_database_size(oid), " if sizes else "") \
        + "shobj_description(oid, 'pg_database')"
    where = f" WHERE starts_with(datname, {quote_literal(prefix)})" if prefix else ""
    return f"SELECT {columns} FROM pg_database{where} ORDER BY datname"


def database_exists(name: str) -> str:
    """One row when `name` exists, none otherwise."""
    return f"SELECT 1 FROM pg_database WHERE datname = {quote_literal(name)}"


def database_owner(name: str) -> str:
    """The owner's role name of `name` (no row when it does not exist)."""
    return ("SELECT pg_get_userbyid(datdba) FROM pg_database "
            f"WHERE datname = {quote_literal(name)}")

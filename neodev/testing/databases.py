"""Isolated databases, fast: migrate once into a template, clone it for every test.

Running a schema for each test costs as much as the schema is big; `CREATE DATABASE ...
TEMPLATE` copies the migrated template's files instead (benchmarks/test_databases.py measures
both). Postgres refuses to clone a template anybody is connected to, so after migrating, the
template's connections are terminated and new ones are refused (`ALLOW_CONNECTIONS false`).
A test's database is dropped after the test, its leftover connections terminated first.

Every database the plugin creates carries the run's labels as JSON in its comment — the same
labels its containers carry — so in attach mode (databases on the developer's own server) the
run's owner drops them at the end, and a crashed run's databases are dropped by the next run.

psycopg 3 is imported only when a database is made: the plugin itself loads without it.
"""

from __future__ import annotations

import importlib
import itertools
import json
import time
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from neodev.docker.labels import PYTEST
from neodev.errors import DatabaseError
from neodev.testing.endpoints import PostgresService

MAINTENANCE_DB = "postgres"
"""Where CREATE/DROP DATABASE run from: initdb creates it, and nobody's tests use it."""
CONNECT_TIMEOUT = 10.0
"""Seconds the plugin keeps trying to reach a server that reported healthy."""

Migrate = Callable[[PostgresService], None]


def psycopg_module() -> ModuleType:
    """psycopg 3, or a DatabaseError saying how to install it."""
    try:
        return importlib.import_module("psycopg")
    except ImportError as e:
        raise DatabaseError("neodev's test databases need psycopg 3: "
                            "pip install 'psycopg[binary]'") from e


class Databases:
    """Creates, clones and drops databases on one server, for one test process.

    Args:
        server: the server and credentials (any database of it: the maintenance connection
            uses `postgres`).
        labels: the run's labels, stored as each created database's comment.
        connect_timeout: seconds to keep trying the first connection.
    """

    def __init__(self, server: PostgresService, labels: Mapping[str, str],
                 connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.server = server
        self._labels = dict(labels)
        self._connect_timeout = connect_timeout
        self._admin: Any = None  # psycopg.Connection, opened on first use
        self._serial = itertools.count(1)

    def next_name(self, prefix: str) -> str:
        """A database name unique within this process: `<prefix>_<n>`."""
        return f"{prefix}_{next(self._serial)}"

    def create(self, name: str, template: str | None = None) -> PostgresService:
        """CREATE DATABASE `name` (a clone of `template` when given), owned by the profile user.

        Raises:
            DatabaseError: the server refused (the message says why).
        """
        sql = self._sql()
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        self._run(statement, f"create database {name}"
                  + (f" from template {template}" if template else ""))
        self._run(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(name), sql.Literal(json.dumps(self._labels, sort_keys=True))),
            f"label database {name}")
        return self.server.with_database(name)

    def make_template(self, name: str, migrate: Migrate) -> None:
        """Create `name`, migrate it, and seal it as a template nobody can connect to.

        Raises:
            DatabaseError: creating or sealing failed; whatever `migrate` raises is passed on
                (the half-made template is dropped first).
        """
        target = self.create(name)
        try:
            migrate(target)
        except BaseException:
            self.drop(name)
            raise
        sql = self._sql()
        self._terminate(name)  # a migration tool may keep a connection (or a pool) open
        self._run(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
                  .format(sql.Identifier(name)), f"seal template {name}")

    def drop(self, name: str) -> None:
        """Terminate the database's connections and drop it (a template too). Idempotent."""
        sql = self._sql()
        if not self._exists(name):
            return
        self._run(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false").format(
            sql.Identifier(name)), f"unseal database {name}")
        self._terminate(name)
        self._run(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)),
                  f"drop database {name}")

    def drop_labelled(self, wanted: Callable[[Mapping[str, str]], bool]) -> list[str]:
        """Drop every database whose comment holds plugin labels `wanted` accepts.

        Returns:
            The names dropped.
        """
        rows = self._admin_connection().execute(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database").fetchall()
        dropped = []
        for name, comment in rows:
            labels = _labels_of(comment)
            if labels.get(PYTEST) == "1" and wanted(labels):
                self.drop(name)
                dropped.append(name)
        return dropped

    def close(self) -> None:
        """Close the maintenance connection (databases are left as they are)."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None

    def _exists(self, name: str) -> bool:
        row = self._admin_connection().execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        return row is not None

    def _terminate(self, name: str) -> None:
        self._admin_connection().execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))

    def _run(self, statement: Any, what: str) -> None:
        psycopg = psycopg_module()
        try:
            self._admin_connection().execute(statement)
        except psycopg.Error as e:
            raise DatabaseError(f"could not {what} on {self.server.host}:{self.server.port}: "
                                f"{str(e).strip()}") from e

    def _sql(self) -> Any:
        return importlib.import_module("psycopg.sql")

    def _admin_connection(self) -> Any:
        """The autocommit maintenance connection (CREATE DATABASE cannot run in a transaction).

        The server already reported healthy; the first connection is retried briefly because
        the published port's proxy may lag a moment behind the server inside the container.
        """
        if self._admin is not None and not self._admin.closed:
            return self._admin
        psycopg = psycopg_module()
        maintenance = self.server.with_database(MAINTENANCE_DB)
        deadline = time.monotonic() + self._connect_timeout
        while True:
            try:
                self._admin = psycopg.connect(maintenance.dsn, autocommit=True,
                                              connect_timeout=max(1, int(self._connect_timeout)))
                return self._admin
            except psycopg.OperationalError as e:
                if "authentication failed" in str(e) or time.monotonic() > deadline:
                    raise DatabaseError(
                        f"cannot connect to Postgres at {self.server.host}:{self.server.port} as "
                        f"{self.server.user!r}: {str(e).strip()}") from e
                time.sleep(0.1)


def _labels_of(comment: str | None) -> dict[str, str]:
    """The plugin labels stored in a database comment; {} for any other comment."""
    if not comment or not comment.startswith("{"):
        return {}
    try:
        data = json.loads(comment)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}


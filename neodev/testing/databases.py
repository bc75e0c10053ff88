"""Isolated databases, fast: migrate once into a template, clone it for every test.

Running a schema for each test costs as much as the schema is big; `CREATE DATABASE ...
TEMPLATE` copies the migrated template's files instead (benchmarks/test_databases.py measures
both). Postgres refuses to clone a template anybody is connected to, so after migrating, the
template's connections are terminated and new ones are refused (`ALLOW_CONNECTIONS false`).
A test's database is dropped after the test, its leftover connections terminated first.

Every database the plugin creates carries the run's labels as JSON in its comment — the same
labels its containers carry — so in attach mode (databases on the developer's own server) the
run's owner drops them at the end, and a crashed run's databases are dropped by the next run.

The statements are `neodev.pgsql`'s, the same the daemon's snapshots use; `PsycopgSql` is
their executor here. psycopg 3 is imported only when a database is made: the plugin itself
loads without it.
"""

from __future__ import annotations

import importlib
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

from neodev import pgsql
from neodev.docker.labels import PYTEST
from neodev.errors import DatabaseError
from neodev.pgsql import MAINTENANCE_DB, Rows
from neodev.testing.endpoints import PostgresService
from neodev.timing import Deadline

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


class PsycopgSql:
    """The plugin's executor of `neodev.pgsql` statements: one autocommit psycopg connection
    to the server's maintenance database (CREATE DATABASE cannot run in a transaction).

    Args:
        server: the server and credentials (any database of it).
        connect_timeout: seconds to keep trying the first connection.
    """

    def __init__(self, server: PostgresService, connect_timeout: float = CONNECT_TIMEOUT
                 ) -> None:
        self.server = server
        self._connect_timeout = connect_timeout
        self._connection: Any = None  # psycopg.Connection, opened on first use

    def __call__(self, statements: Sequence[str], what: str = "run SQL") -> Rows:
        """Run `statements` in order; the rows of the last, as text (NULL as '').

        Raises:
            DatabaseError: the server refused (`what` failed, and the server's reason).
        """
        psycopg = psycopg_module()
        connection = self._connect()
        rows: Rows = []
        try:
            for statement in statements:
                cursor = connection.execute(statement)
                rows = ([["" if v is None else str(v) for v in row] for row in cursor.fetchall()]
                        if cursor.description is not None else [])
        except psycopg.Error as e:
            raise DatabaseError(f"could not {what} on {self.server.host}:{self.server.port}: "
                                f"{str(e).strip()}") from e
        return rows

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> Any:
        """The connection. The server already reported healthy; the first connection is
        retried briefly because the published port's proxy may lag a moment behind the
        server inside the container."""
        if self._connection is not None and not self._connection.closed:
            return self._connection
        psycopg = psycopg_module()
        maintenance = self.server.with_database(MAINTENANCE_DB)
        deadline = Deadline(self._connect_timeout)
        while True:
            try:
                self._connection = psycopg.connect(
                    maintenance.dsn, autocommit=True,
                    connect_timeout=max(1, int(self._connect_timeout)))
                return self._connection
            except psycopg.OperationalError as e:
                if "authentication failed" in str(e) or deadline.passed:
                    raise DatabaseError(
                        f"cannot connect to Postgres at {self.server.host}:{self.server.port} as "
                        f"{self.server.user!r}: {str(e).strip()}") from e
                time.sleep(0.1)


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
        self._sql = PsycopgSql(server, connect_timeout)
        self._serial = itertools.count(1)

    def next_name(self, prefix: str) -> str:
        """A database name unique within this process: `<prefix>_<n>`."""
        return f"{prefix}_{next(self._serial)}"

    def create(self, name: str, template: str | None = None) -> PostgresService:
        """CREATE DATABASE `name` (a clone of `template` when given), owned by the profile user.

        Raises:
            DatabaseError: the server refused (the message says why).
        """
        self._sql([pgsql.create_database(name, template=template)],
                  f"create database {name}" + (f" from template {template}" if template else ""))
        self._sql([pgsql.label_database(name, self._labels)], f"label database {name}")
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
        # A migration tool may keep a connection (or a pool) open: end them first.
        self._sql([pgsql.terminate_sessions(name), pgsql.seal_template(name)],
                  f"seal template {name}")

    def drop(self, name: str) -> None:
        """Terminate the database's connections and drop it (a template too). Idempotent."""
        if self._sql([pgsql.database_exists(name)], f"look for database {name}"):
            self._sql(pgsql.drop_database(name), f"drop database {name}")

    def drop_labelled(self, wanted: Callable[[Mapping[str, str]], bool]) -> list[str]:
        """Drop every database whose comment holds plugin labels `wanted` accepts.

        Returns:
            The names dropped.
        """
        dropped = []
        for name, comment in self._sql([pgsql.list_databases()], "list databases"):
            labels = {str(k): str(v) for k, v in pgsql.read_labels(comment).items()}
            if labels.get(PYTEST) == "1" and wanted(labels):
                self.drop(name)
                dropped.append(name)
        return dropped

    def close(self) -> None:
        """Close the maintenance connection (databases are left as they are)."""
        self._sql.close()

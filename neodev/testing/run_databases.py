"""The run's databases, as one test process uses them.

- The session database, what `neodev_postgres` points at: the profile's own database in the
  run's container; under xdist each worker gets one of its own (`<db>_gw0`); in attach mode a
  fresh one on the developer's server (`<db>_pytest_<session>`), the dev database never
  touched.
- The template, migrated once per run (whichever process gets there first, under the run
  lock), and a clone of it per test (`neodev_db`), dropped after the test.
- At the end, in attach mode, the run's databases on the developer's server are dropped (by
  the labels in their comment), as are those of dead runs when a run attaches.
"""

from __future__ import annotations

from neodev.docker.labels import PYTEST_SESSION
from neodev.errors import DatabaseError, NeodevError
from neodev.jsontypes import JsonObject
from neodev.testing.databases import Databases, Migrate
from neodev.testing.endpoints import PostgresService
from neodev.testing.janitor import owner_gone
from neodev.testing.run import RunInfo, worker_suffix


class RunDatabases:
    """Databases on the run's Postgres server, for one test process.

    Args:
        run: the run this process belongs to (its labels and names).
        migrate: runs the schema into the template database (once per run).
    """

    def __init__(self, run: RunInfo, migrate: Migrate) -> None:
        self.run = run
        self._migrate = migrate
        self._databases: Databases | None = None
        self.removed_leftovers: list[str] = []
        """Databases of dead runs this process dropped (attach mode)."""

    def session_database(self, server: PostgresService) -> PostgresService:
        """The session database on the run's own server: the profile's database, or under
        xdist one per worker (they share the container)."""
        if not self.run.worker:
            return server
        return self._on(server).create(f"{server.dbname}{worker_suffix(self.run)}")

    def attach(self, server: PostgresService) -> PostgresService:
        """Attach mode: a fresh session database on the developer's server (after dropping
        what dead runs left there)."""
        databases = self._on(server)
        for name in databases.drop_labelled(owner_gone):
            self.removed_leftovers.append(f"database {name}")
        return databases.create(
            f"{server.dbname}_pytest_{self.run.session}{worker_suffix(self.run)}")

    def template(self, server: PostgresService, state: JsonObject) -> str:
        """The run's migrated template: made by this process unless another one of the run
        already made it (or failed to). Call it holding the run lock.

        Raises:
            NeodevError: the migration failed, here or in another process of the run.
        """
        if "template_failed" in state:
            raise DatabaseError(state["template_failed"])
        name: str | None = state.get("template")
        if name is None:
            name = f"neodev_template_{self.run.session}"
            try:
                self._on(server).make_template(name, self._migrate)
            except Exception as e:
                error = e if isinstance(e, NeodevError) else DatabaseError(
                    f"the migration of the template database failed: {type(e).__name__}: {e}")
                state["template_failed"] = error.message
                raise error from e
            state["template"] = name
        return name

    def clone(self, server: PostgresService, template: str) -> PostgresService:
        """A fresh database of the test's own, cloned from `template`."""
        databases = self._on(server)
        prefix = f"neodev_t_{self.run.session}{worker_suffix(self.run)}"
        return databases.create(databases.next_name(prefix), template=template)

    def drop(self, database: PostgresService) -> None:
        """Drop a database made here (its connections are terminated first)."""
        self._on(database).drop(database.dbname)

    def drop_run(self, server: PostgresService) -> None:
        """Drop every database of this run on `server` (the owner, at the end of attach mode).

        Raises:
            DatabaseError: the server could not be reached, or refused.
        """
        databases = Databases(server, self.run.labels)
        try:
            session = self.run.session
            databases.drop_labelled(lambda labels: labels.get(PYTEST_SESSION) == session)
        finally:
            databases.close()

    def close(self) -> None:
        """Close this process's connection to the server (the databases stay)."""
        if self._databases is not None:
            self._databases.close()
            self._databases = None

    def _on(self, server: PostgresService) -> Databases:
        if self._databases is None:
            self._databases = Databases(server, self.run.labels)
        return self._databases

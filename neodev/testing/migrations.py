"""The schema a suite's template database gets: from the ini file and from conftest hooks.

Two ways to say it, both run once per test run into the template (never per test):
- `neodev_migrate` in the ini file: lines naming SQL files (relative to the rootdir) or
  `module:function` callables taking the template's DSN, run in the order given;
- the `pytest_neodev_migrate(dsn, postgres)` hook in a conftest.py, run after them (for
  migration tools: Alembic, Flyway through a subprocess, an ORM's `create_all`...).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path

from neodev.errors import DatabaseError
from neodev.testing.databases import Migrate, psycopg_module
from neodev.testing.endpoints import PostgresService


def sql_file_migration(path: Path) -> Migrate:
    """A migration that runs one SQL file (several statements allowed) in one transaction."""

    def run(target: PostgresService) -> None:
        psycopg = psycopg_module()
        try:
            script = path.read_text(encoding="utf-8")
        except OSError as e:
            raise DatabaseError(f"cannot read the migration file {path}: {e}") from e
        try:
            with psycopg.connect(target.dsn) as conn:
                conn.execute(script)  # no parameters: psycopg sends it as one simple query
        except psycopg.Error as e:
            raise DatabaseError(f"migration {path} failed: {str(e).strip()}") from e

    return run


def callable_migration(reference: str) -> Migrate:
    """A migration that calls `module:function` with the template's DSN.

    Raises:
        DatabaseError: the module or the function cannot be found (when the template is made).
    """

    def run(target: PostgresService) -> None:
        module_name, _, attribute = reference.partition(":")
        try:
            function = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as e:
            raise DatabaseError(f"neodev_migrate = {reference}: cannot load it ({e}); use "
                                "`package.module:function` or a path to a .sql file") from e
        function(target.dsn)

    return run


def ini_migrations(entries: Sequence[str], rootdir: Path) -> list[Migrate]:
    """The `neodev_migrate` ini lines as migrations: `*.sql` paths, else `module:function`."""
    steps: list[Migrate] = []
    for entry in entries:
        if entry.endswith(".sql") or ":" not in entry:
            path = Path(entry)
            steps.append(sql_file_migration(path if path.is_absolute() else rootdir / path))
        else:
            steps.append(callable_migration(entry))
    return steps


def combined(steps: Sequence[Migrate], hook: Callable[[PostgresService], None]) -> Migrate:
    """One migration: the ini steps in order, then the conftest hook."""

    def run(target: PostgresService) -> None:
        for step in steps:
            step(target)
        hook(target)

    return run

"""The hook a test suite implements (in a conftest.py) to give the template its schema."""

from __future__ import annotations

import pytest

from neodev.testing.endpoints import PostgresService


@pytest.hookspec
def pytest_neodev_migrate(dsn: str, postgres: PostgresService) -> None:
    """Create the schema in the template database: run once per test run, never per test.

    Every `neodev_db` database is a clone of that template, so put here what every test's
    database must hold (tables, indexes, reference data). Close what you connect: Postgres
    cannot clone a template somebody is connected to (the plugin terminates stragglers).

    Args:
        dsn: libpq URI of the template database (`postgresql://user:pw@127.0.0.1:port/db`).
        postgres: the same as an endpoint (host, port, user, password, dbname).
    """

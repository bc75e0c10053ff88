"""`neodev db restore` never loses data, over a scripted server (tests/unit/
test_db_snapshot_parts.py's FakeServer: databases with their contents, failures injected).

A copy that fails for any reason — the server's refusal, a `docker exec` lost before or after
the server did its part, a cancellation, a bug — leaves the dev database as it was; when even
putting it back fails, the error names the snapshot holding its data, and restoring that
snapshot brings it back. Two restores in the same second keep both replaced databases.
Automatic snapshots stay within their budget, and a restore says which one it dropped.
"""

from __future__ import annotations

import asyncio

import pytest

from neodev import pgsql
from neodev.cli.render import format_snapshot_outcome, format_snapshots
from neodev.daemon.dbsnapshots import DatabaseSnapshots
from neodev.errors import DatabaseError, DockerError
from neodev.protocol.db import AUTOMATIC_KEPT
from tests.unit.test_db_snapshot_parts import FakeServer, FakeUnits, _snapshots

SAVED = "before-restore-20231114-221320"
"""The automatic snapshot a restore takes at the scripted wall clock."""
COPY = 'CREATE DATABASE "app" TEMPLATE'
RENAME = 'ALTER DATABASE "app" RENAME'
SEAL = pgsql.seal_template(f"neodev_snap_{SAVED}")
UNSEAL = pgsql.unseal_template(f"neodev_snap_{SAVED}")


async def prepared() -> tuple[FakeServer, FakeUnits, DatabaseSnapshots]:
    """A snapshot `base` taken, then the dev data changed (what a restore would replace)."""
    server, units = FakeServer(), FakeUnits()
    snapshots = _snapshots(server, units)
    await snapshots.take("base")
    server.contents["app"] = "work since base"
    units.events.clear()
    return server, units, snapshots


def assert_as_before(server: FakeServer, units: FakeUnits) -> None:
    assert server.contents["app"] == "work since base"
    assert server.databases["app"] == ""  # no snapshot label left on it
    assert sorted(server.databases) == ["app", "neodev_snap_base"]  # no stray copy
    assert units.events == ["stop users of db", "start users of db"]


@pytest.mark.parametrize(("fail", "error", "after"), [
    (COPY, DockerError("lost the docker exec"), False),
    (COPY, DockerError("lost the docker exec"), True),  # the server made the copy meanwhile
    (COPY, RuntimeError("a bug"), False),
    (RENAME, DockerError("lost the docker exec"), True),  # renamed, not labelled nor sealed
    (SEAL, ConnectionResetError("engine went away"), True),
], ids=["exec-lost-before-copy", "exec-lost-after-copy", "bug", "exec-lost-after-rename",
        "exec-lost-after-seal"])
async def test_a_copy_that_fails_for_any_reason_leaves_the_database_as_it_was(
        fail: str, error: BaseException, after: bool) -> None:
    server, units, snapshots = await prepared()
    server.fail, server.error, server.after = fail, error, after
    with pytest.raises(type(error)) as raised:
        await snapshots.restore("base")
    assert raised.value is error  # the failure itself goes on, after the undo
    assert_as_before(server, units)
    server.fail = None
    restored = await snapshots.restore("base")
    assert server.contents["app"] == "the dev data" and restored.saved is not None


async def test_a_cancelled_restore_puts_the_database_back_before_it_ends() -> None:
    server, units, snapshots = await prepared()
    copying, release = asyncio.Event(), asyncio.Event()
    run = server.__call__

    async def slow(spec, statements):  # type: ignore[no-untyped-def]
        if statements and statements[0].startswith(COPY):
            copying.set()
            await release.wait()  # a long copy: the person presses ctrl+c meanwhile
        if statements and statements[0].startswith('ALTER DATABASE "neodev_snap_before'):
            task.cancel()  # cancelled again while putting it back: the undo still finishes
            await asyncio.sleep(0)
        return await run(spec, statements)

    snapshots._sql = slow
    task = asyncio.create_task(snapshots.restore("base"))
    await asyncio.wait_for(copying.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert_as_before(server, units)


async def test_when_putting_back_fails_too_the_error_names_where_the_data_is() -> None:
    server, _, snapshots = await prepared()
    server.fail, server.error = COPY, DockerError("lost the docker exec")
    server.refuse = UNSEAL  # the undo's first step
    with pytest.raises(DatabaseError) as raised:
        await snapshots.restore("base")
    error = raised.value
    assert (error.database, error.snapshot) == ("app", SAVED)
    assert "lost the docker exec" in error.message and "disk full" in error.message
    assert f"its data is kept in snapshot {SAVED!r}" in error.message
    assert f"`neodev db restore {SAVED}` puts it back" in error.message
    assert "app" not in server.databases
    assert server.contents[f"neodev_snap_{SAVED}"] == "work since base"  # nothing lost
    # What the message says to do works: a restore into the missing database.
    server.fail = server.refuse = None
    outcome = await snapshots.restore(SAVED)
    assert server.contents["app"] == "work since base"
    assert outcome.saved is None  # there was nothing to keep


async def test_two_restores_in_the_same_second_keep_both_replaced_databases() -> None:
    server, _, snapshots = await prepared()  # the scripted wall clock never moves
    first = await snapshots.restore("base")
    server.contents["app"] = "work after the first restore"
    second = await snapshots.restore("base")
    assert first.saved is not None and second.saved is not None
    assert (first.saved.name, second.saved.name) == (SAVED, f"{SAVED}-2")
    assert server.contents[f"neodev_snap_{SAVED}"] == "work since base"
    assert server.contents[f"neodev_snap_{SAVED}-2"] == "work after the first restore"


async def test_a_stray_database_with_the_automatic_name_is_never_taken_for_the_saved_one(
        ) -> None:
    server, _, snapshots = await prepared()
    server.databases[f"neodev_snap_{SAVED}"] = ""  # unlabelled: not a snapshot, not listed
    server.contents[f"neodev_snap_{SAVED}"] = "someone else's"
    server.fail, server.error = COPY, DockerError("lost the docker exec")
    with pytest.raises(DockerError):
        await snapshots.restore("base")
    assert server.contents["app"] == "work since base"
    assert server.contents[f"neodev_snap_{SAVED}"] == "someone else's"
    assert f"neodev_snap_{SAVED}-2" not in server.databases  # put back under its name


async def test_automatic_snapshots_stay_within_the_budget_and_a_restore_says_what_it_drops(
        ) -> None:
    server, _, snapshots = await prepared()
    outcomes = []
    for _ in range(AUTOMATIC_KEPT + 1):
        outcomes.append(await snapshots.restore("base"))
    assert all(o.pruned == () for o in outcomes[:AUTOMATIC_KEPT])
    last = outcomes[-1]
    assert [p.name for p in last.pruned] == [SAVED]  # the oldest automatic one
    listed = await snapshots.listing()
    assert [s.name for s in listed if s.automatic] == [f"{SAVED}-{n}" for n in (2, 3, 4)]
    assert "base" in [s.name for s in listed]  # a snapshot someone took is never dropped
    said = format_snapshot_outcome(last)
    assert said.splitlines()[-1] == (
        f"dropped the oldest automatic snapshot {SAVED} (the newest {AUTOMATIC_KEPT} are kept)")
    table = format_snapshots(listed).splitlines()
    oldest = next(line for line in table if line.startswith(f"{SAVED}-2"))
    assert oldest.endswith("automatic (before a restore; the next restore drops it)")
    newest = next(line for line in table if line.startswith(f"{SAVED}-4"))
    assert newest.endswith("automatic (before a restore)")
    assert pgsql.drop_database(f"neodev_snap_{SAVED}")[-1] in server.statements

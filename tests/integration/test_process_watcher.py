"""FileWatcher with real file events: its public behaviour, on both backends where it matters.

`inotify` is the Linux backend (the daemon's); `watchfiles` is the fallback, reached here by
`force_polling=True` (the only way to run it on Linux). inotify-specific behaviour (watch
counts, moves, overflow, limits) is in test_process_inotify.py.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from neodev.errors import ProcessError
from neodev.process.watcher import Change, FileWatcher
from tests.integration.watch_helpers import Batches, spec
from tests.waiting import until_async

# Quiet period after which "no batch" is accepted as no batch.
QUIET = 0.8


def age_files(root: Path) -> None:
    """Date the files a test made before its watcher started 2 s back: watchfiles' polling
    compares modification times in whole seconds (with the size), so a same-size rewrite in
    the second the file was made is not a change to it."""
    past = time.time() - 2
    for path in root.rglob("*"):
        os.utime(path, (past, past))


@pytest.fixture(params=["inotify", "watchfiles"])
def polling(request: pytest.FixtureRequest) -> bool:
    """force_polling for the backend under test."""
    return bool(request.param == "watchfiles")


async def start(*watchers: FileWatcher) -> None:
    for w in watchers:
        if not w.uses_inotify():
            age_files(Path(w.spec.cwd))
        w.start()
    for w in watchers:
        await asyncio.wait_for(w.ready.wait(), 5)  # both backends: the watches are in place


async def test_an_edit_triggers_only_the_watcher_whose_globs_match(tmp_path: Path,
                                                                   polling: bool) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "Main.kt").write_text("v1")
    (tmp_path / "router.yaml").write_text("a: 1")
    backend, router = Batches(), Batches()
    wb = FileWatcher(spec(tmp_path, "backend", ("src/**",)), backend, force_polling=polling)
    wr = FileWatcher(spec(tmp_path, "router", ("router.yaml", "supergraph.graphql")), router,
                     force_polling=polling)
    assert wb.uses_inotify() is not polling
    await start(wb, wr)
    try:
        (tmp_path / "src" / "Main.kt").write_text("v2")
        await backend.wait(1)
        await asyncio.sleep(QUIET)
        assert backend.got == [["src/Main.kt"]]
        assert router.got == []
        (tmp_path / "router.yaml").write_text("a: 2")
        await router.wait(1)
        await asyncio.sleep(QUIET)
        assert router.got == [["router.yaml"]]
        assert len(backend.got) == 1
    finally:
        await wb.stop()
        await wr.stop()


async def test_a_burst_of_50_edits_gives_one_or_two_batches(tmp_path: Path,
                                                            polling: bool) -> None:
    (tmp_path / "src").mkdir()
    got = Batches()
    w = FileWatcher(spec(tmp_path, "backend", ("src/**",), debounce_ms=300), got,
                    force_polling=polling)
    await start(w)
    try:
        for i in range(50):
            (tmp_path / "src" / f"F{i}.kt").write_text(str(i))
            await asyncio.sleep(0.002)
        await got.wait(1)
        await asyncio.sleep(QUIET)
        assert 1 <= len(got.got) <= 2, [len(b) for b in got.got]
        assert {p for b in got.got for p in b} == {f"src/F{i}.kt" for i in range(50)}
    finally:
        await w.stop()


async def test_ignored_paths_give_no_batch(tmp_path: Path, polling: bool) -> None:
    for d in ("node_modules/pkg", ".git", "src/build", "src"):
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
    got = Batches()
    w = FileWatcher(spec(tmp_path, "frontend", ("**",), ignore=("*.log",)), got,
                    force_polling=polling)
    await start(w)
    try:
        (tmp_path / "node_modules" / "pkg" / "index.js").write_text("x")
        (tmp_path / ".git" / "HEAD").write_text("ref")
        (tmp_path / "src" / ".page.tsx.swp").write_text("x")
        (tmp_path / "src" / "page.tsx~").write_text("x")
        (tmp_path / "src" / "4913").write_text("x")
        (tmp_path / "src" / "build" / "out.js").write_text("x")
        (tmp_path / "debug.log").write_text("x")
        await asyncio.sleep(QUIET)
        assert got.got == []
        (tmp_path / "src" / "page.tsx").write_text("x")  # control: the watcher is alive
        await got.wait(1)
        assert got.got == [["src/page.tsx"]]
    finally:
        await w.stop()


async def test_changes_during_a_slow_callback_arrive_as_one_next_batch(tmp_path: Path,
                                                                      polling: bool) -> None:
    (tmp_path / "src").mkdir()
    got: list[list[str]] = []
    busy = asyncio.Event()

    async def slow(paths: list[str]) -> None:
        got.append(paths)
        if len(got) == 1:
            busy.set()
            await asyncio.sleep(1.0)  # a restart in progress

    w = FileWatcher(spec(tmp_path, "backend", ("src/**",)), slow, force_polling=polling)
    await start(w)
    try:
        (tmp_path / "src" / "a.kt").write_text("1")
        await asyncio.wait_for(busy.wait(), 5)
        for i in range(10):  # spread over the callback, well beyond one watchfiles step
            (tmp_path / "src" / f"b{i}.kt").write_text(str(i))
            await asyncio.sleep(0.06)
        await until_async(lambda: got, "a second batch", 5, ok=lambda batches: len(batches) >= 2)
        await asyncio.sleep(QUIET)
        assert got[0] == ["src/a.kt"]
        assert len(got) == 2, got
        assert got[1] == sorted(f"src/b{i}.kt" for i in range(10))
    finally:
        await w.stop()


async def test_watch_root_created_later_is_still_seen(tmp_path: Path, polling: bool) -> None:
    got = Batches()
    w = FileWatcher(spec(tmp_path, "backend", ("src/**",)), got, force_polling=polling)
    assert w.watch_paths() == [([tmp_path.resolve()], True)]
    await start(w)
    try:
        (tmp_path / "src").mkdir()
        (tmp_path / "src" / "a.kt").write_text("x")
        await got.wait(1)
        # the file, or (when it was written before inotify watched src/) the new directory
        assert {"src/a.kt", "src"} & {p for b in got.got for p in b}
    finally:
        await w.stop()


async def test_a_new_directory_counts_only_where_the_globs_reach(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    w = FileWatcher(spec(tmp_path, "backend", ("src/**",)), Batches())
    (tmp_path / "src" / "pkg").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "src" / "node_modules").mkdir()
    assert w.accepts(Change.added, str(tmp_path / "src" / "pkg"))
    assert not w.accepts(Change.added, str(tmp_path / "docs"))
    assert not w.accepts(Change.added, str(tmp_path / "src" / "node_modules"))
    assert not w.accepts(Change.modified, str(tmp_path / "src" / "pkg"))
    # deleted paths cannot be inspected: one that names an ignored directory does not count
    assert not w.accepts(Change.deleted, str(tmp_path / "src" / "build"))
    assert w.accepts(Change.deleted, str(tmp_path / "src" / "Main.kt"))
    # inotify says what a path was (relative paths, `is_dir` given): a directory that went
    # away counts like one that appeared; its own modification never does.
    assert w.accepts(Change.deleted, "src/gone", is_dir=True)
    assert not w.accepts(Change.deleted, "src/node_modules", is_dir=True)
    assert not w.accepts(Change.modified, "src/pkg", is_dir=True)
    assert w.accepts(Change.deleted, "src/Main.kt", is_dir=False)


async def test_missing_cwd_is_a_process_error(tmp_path: Path) -> None:
    w = FileWatcher(spec(tmp_path / "nope", "backend", ("src/**",)), Batches())
    with pytest.raises(ProcessError, match="does not exist"):
        await w.run()


async def test_stop_ends_the_task_promptly(tmp_path: Path, polling: bool) -> None:
    w = FileWatcher(spec(tmp_path, "backend", ("**",)), Batches(), force_polling=polling)
    task = w.start()
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await w.stop()
    assert task.done()
    assert time.monotonic() - started < 2.0

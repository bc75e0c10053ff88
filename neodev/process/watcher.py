"""File watching for hot reload: inotify on Linux, watchfiles elsewhere.

Not `watchfiles.run_process`: it signals only the direct child, installs a SIGTERM handler in our
process and lets child output hit the terminal (reference §3). The watcher only reports batches
of changed paths; restarting (and coalescing changes that arrive during a restart into exactly
one more restart) is the engine's job (neodev/engine/reload.py).

On Linux the events come from the kernel's inotify (`neodev/process/inotify.py`): the
descriptor sits in the event loop (`loop.add_reader`) and one timer ends a batch `step_ms`
after its last event, or `debounce_ms` after its first, whichever comes first. An isolated
change of one file that is complete (closed after writing, moved into place or deleted) ends
after the shorter `settle_ms`: the save is whole. No thread, no polling, so an idle daemon
does not wake for its watchers at all. Elsewhere, or when polling is asked for,
`watchfiles.awatch` does the same job (its Rust loop wakes every step).
`FileWatcher.run` chooses; both backends share `accepts`.

Watches are placed only where the globs can match (`src/**` watches `src/`, `package.json`
watches the cwd non-recursively), and directories the ignore globs exclude are never entered,
so a `node_modules` or `build` costs no inotify watches. Changes that arrive while `on_change`
runs are kept and delivered as the next batch.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import os
import platform
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from neodev.config.globs import GlobSet
from neodev.config.model import ProcessSpec, cwd_problem
from neodev.errors import ProcessError
from neodev.process import inotify
from neodev.process.inotree import Change, InotifyTree

__all__ = ["Change", "FileWatcher", "OnChange", "OnNote"]

OnChange = Callable[[list[str]], Awaitable[None] | None]
OnNote = Callable[[str], None]
"""Receives what the watcher has to say to a person (the daemon: a line of the unit's log)."""

NEW_DIRECTORY_PROBE = "any-file"
"""A file name standing for "anything inside" when asking whether a directory matters."""
STOP_TIMEOUT = 5.0
"""How long `stop()` waits for a delivery in progress (a slow `on_change`) before cancelling."""


class FileWatcher:
    """Watches one process's cwd and reports batches of matching changed paths.

    Args:
        spec: The process (cwd, watch and ignore globs, debounce_ms).
        on_change: Called with the sorted relative paths of each batch; may be async (it is
            awaited before the next batch is delivered).
        step_ms: Quiet time after the last event that ends a batch (default: the spec's
            `watch_step_ms`).
        force_polling: Poll (watchfiles) instead of inotify; None = inotify, unless watchfiles
            would poll here by default (WATCHFILES_FORCE_POLLING, WSL).
        on_note: Told when a watched root directory goes away and when it is watched again.
    """

    def __init__(self, spec: ProcessSpec, on_change: OnChange, *,
                 step_ms: int | None = None, force_polling: bool | None = None,
                 on_note: OnNote | None = None) -> None:
        self.spec = spec
        self.on_change = on_change
        self.on_note = on_note or (lambda text: None)
        self.globs = GlobSet(spec.watch, spec.ignore)
        self.step_ms = step_ms if step_ms is not None else spec.watch_step_ms
        self.settle_ms = min(spec.watch_settle_ms, self.step_ms)
        """Quiet time that ends a batch of one complete file (inotify only)."""
        self.last_change: float | None = None
        """Loop time of the last change of the batch delivered last (the reload counts from
        it)."""
        self.force_polling = force_polling
        self.batches = 0
        """Batches delivered so far."""
        self.ready = asyncio.Event()
        """Set once the watches are in place (inotify), or once the watchfiles loops are
        started (which place theirs a moment later, without a signal)."""
        self._cwd = Path(spec.cwd).resolve()
        self._stop_event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # inotify backend state: the tree, the batch being gathered and the one timer that
        # ends it; `_wake` is set by the timer, by stop() and by a failure.
        self._tree: InotifyTree | None = None
        self._pending: set[str] = set()
        self._writing: set[str] = set()
        """Paths of the pending batch whose last event left them possibly half-written."""
        self._last: float | None = None
        """Loop time of the last event that counted (in this batch or an earlier one)."""
        self._isolated = True
        """The pending batch began a step or more after the previous change."""
        self._first: float | None = None
        """Loop time of the pending batch's first event (the debounce counts from it)."""
        self._timer: asyncio.TimerHandle | None = None
        self._due = False
        """The timer fired and no event came since: the pending batch is complete."""
        self._wake = asyncio.Event()
        self._failure: ProcessError | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def watch_count(self) -> int:
        """inotify watches held now (0 before `run`, after `stop`, and with watchfiles)."""
        return self._tree.watch_count if self._tree is not None else 0

    def uses_inotify(self) -> bool:
        """The backend choice: inotify where the kernel has it and polling is not asked for."""
        if self.force_polling is not None:
            return not self.force_polling and inotify.available()
        # watchfiles' own default: the variable, and polling on WSL (its 9p mounts of Windows
        # drives deliver no inotify events).
        env = os.environ.get("WATCHFILES_FORCE_POLLING", "")
        if env and env.lower() not in {"false", "disable", "disabled"}:
            return False
        if "microsoft-standard" in platform.uname().release.lower():
            return False
        return inotify.available()

    def accepts(self, change: Change, path: str, is_dir: bool | None = None) -> bool:
        """True when a change to this path counts: the one filter of both backends.

        Args:
            change: What happened.
            path: Absolute (watchfiles), or relative to the cwd (inotify).
            is_dir: Whether the path is a directory; None = look at the disk (watchfiles does
                not say, and a deleted path cannot be looked at).
        """
        if os.path.isabs(path):
            try:
                rel = Path(path).resolve().relative_to(self._cwd).as_posix()
            except ValueError:
                return False
        else:
            rel = path
        if is_dir is None:
            is_dir = (self._cwd / rel).is_dir()
        inside = f"{rel}/{NEW_DIRECTORY_PROBE}"
        if is_dir:
            # A directory counts only when it appears or goes away and what it holds would
            # count (`src/` for `src/**`, never `node_modules/`): files written into it in the
            # same instant can land before it is watched (`mkdir src && echo x > src/a.kt`,
            # git checkouts), and one moved away reports no files. A change inside it is
            # reported by the child.
            return change != Change.modified and self.globs.matches(inside)
        if change == Change.deleted and self.globs.is_ignored(inside):
            return False  # gone, so it may have been an ignored directory (rm -rf node_modules)
        return self.globs.matches(rel)

    def may_hold_changes(self, directory: str) -> bool:
        """Whether anything under a directory (relative to the cwd) can count: inotify enters
        and watches only such directories (never `node_modules/`, `build/`, `.git/`)."""
        return not self.globs.is_ignored(f"{directory}/{NEW_DIRECTORY_PROBE}")

    def watch_paths(self) -> list[tuple[list[Path], bool]]:
        """The (paths, recursive) groups to watch.

        Raises:
            ProcessError: The cwd does not exist.
        """
        problem = cwd_problem(self._cwd)
        if problem is not None:
            raise ProcessError(f"{self.name}: cannot watch: {problem}")
        roots, top_level = self.globs.watch_roots()
        recursive: list[Path] = []
        for root in roots:
            path = self._cwd / root
            # A root that does not exist yet (src/ before the first file) cannot be watched
            # itself: fall back to the whole cwd so its creation is seen.
            if not path.is_dir():
                recursive, top_level = [self._cwd], False
                break
            recursive.append(path)
        groups: list[tuple[list[Path], bool]] = []
        if recursive:
            groups.append((recursive, True))
        if top_level:
            groups.append(([self._cwd], False))
        return groups

    async def run(self) -> None:
        """Watch until `stop()`; deliver each batch to `on_change`.

        Raises:
            ProcessError: The cwd does not exist, or a watch could not be placed (the
                message names the kernel limit reached and how to raise it).
        """
        groups = self.watch_paths()
        if self._stop_event.is_set():
            return
        if self.uses_inotify():
            await self._run_inotify(groups)
        else:
            await self._run_watchfiles(groups)

    def start(self) -> asyncio.Task[None]:
        """Run the watcher as a task of the running loop and return the task."""
        self._task = asyncio.create_task(self.run(), name=f"watch:{self.name}")
        return self._task

    async def stop(self) -> None:
        """Stop watching and wait for the task: at once with inotify (after a delivery in
        progress), within one step with watchfiles."""
        self._stop_event.set()
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_TIMEOUT)
            except TimeoutError:
                self._task.cancel()

    async def _deliver(self, paths: list[str]) -> None:
        self.batches += 1
        result = self.on_change(paths)
        if inspect.isawaitable(result):
            await result

    # -- inotify ------------------------------------------------------------------------------

    async def _run_inotify(self, groups: list[tuple[list[Path], bool]]) -> None:
        # One inotify descriptor per watcher, not one per daemon: each watcher then owns its
        # watch descriptors, its timer and its teardown (a shared descriptor would need a
        # dispatcher, and the kernel gives two watchers of one directory the same watch, whose
        # mask and removal they would have to negotiate). Idle, a descriptor costs nothing;
        # the price is one of `fs.inotify.max_user_instances` (128 by default) per watcher.
        loop = asyncio.get_running_loop()
        try:
            tree = InotifyTree.open(self._cwd, self.may_hold_changes)
        except OSError as exc:
            raise self._watch_error(exc) from exc
        self._tree = tree
        try:
            self._add_roots(tree, groups)
            loop.add_reader(tree.fd, self._readable)
            self.ready.set()
            await self._deliver_batches()
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if tree.fd >= 0:
                loop.remove_reader(tree.fd)
            tree.close()
            self._tree = None

    def _add_roots(self, tree: InotifyTree, groups: list[tuple[list[Path], bool]]) -> None:
        try:
            for paths, recursive in groups:
                for path in paths:
                    rel = os.path.relpath(path, self._cwd)
                    tree.add_root("" if rel == "." else Path(rel).as_posix(), recursive)
        except OSError as exc:
            raise self._watch_error(exc) from exc

    async def _deliver_batches(self) -> None:
        """Until stop() or a failure: each time the timer says a batch is complete, deliver it.
        Events keep being gathered during a delivery (the reader runs meanwhile)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._failure is not None:
                raise self._failure
            if self._stop_event.is_set():
                return
            if not self._due:
                continue  # woken by the timer, then an event re-armed it
            batch = sorted(self._pending)
            self._pending.clear()
            self._writing.clear()
            self.last_change = self._last
            self._first, self._due = None, False
            await self._deliver(batch)

    def _readable(self) -> None:
        """The descriptor has events (the loop calls again while more wait)."""
        if self._tree is None:
            return
        try:
            raw = self._tree.read()
        except OSError as exc:
            self._fail(exc)
            return
        self._handle(raw)

    def _handle(self, raw: bytes) -> None:
        """Gather the events in `raw` that count into the pending batch, (re)arm its timer."""
        tree = self._tree
        assert tree is not None
        try:
            received = tree.handle(raw)
            for root in received.roots_gone:
                self.on_note(f"hot reload: {root}/ went away; it is watched again when it is "
                             "back")
            for root in received.roots_back:
                self.on_note(f"hot reload: {root}/ is back and watched again")
            accepted = [e for e in received.events if self.accepts(e.change, e.path, e.is_dir)]
            paths = {e.path for e in accepted}
            for event in accepted:
                if event.complete:
                    self._writing.discard(event.path)
                elif event.complete is False:
                    self._writing.add(event.path)
            if received.overflowed:
                # The kernel dropped events: which files changed is unknown, so the batch
                # names the roots (a reload is never lost), and every watch is placed again.
                paths.update(tree.roots)
                self._writing.update(tree.roots)
                loop = asyncio.get_running_loop()
                loop.remove_reader(tree.fd)
                tree.reopen()
                loop.add_reader(tree.fd, self._readable)
        except OSError as exc:
            self._fail(exc)
            return
        if paths:
            self._gather(paths)

    def _fail(self, exc: OSError) -> None:
        """Stop reading; run() raises the error (raised in a reader callback, the loop would
        only log it)."""
        if self._tree is not None and self._tree.fd >= 0:
            asyncio.get_running_loop().remove_reader(self._tree.fd)
        self._failure = self._watch_error(exc)
        self._wake.set()

    def _gather(self, paths: Iterable[str]) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._pending.update(paths)
        if self._first is None:
            self._first = now
            # Isolated: nothing changed for a step before it (it does not continue a burst).
            self._isolated = self._last is None or now - self._last >= self.step_ms / 1000
        self._last = now
        # The batch ends a quiet step after this event, or when it has grown for debounce_ms.
        # An isolated change of one file that is complete (closed after writing, moved into
        # place, deleted) is a whole save: the shorter settle time ends it. A second file (a
        # save-all, a formatter, a checkout, an editor's backup or temporary file) brings the
        # full step back, and so does a change that follows the last batch within a step: a
        # burst is then one batch as before, its first file at most delivered on its own.
        settled = self._isolated and len(self._pending) == 1 and not self._writing
        quiet = self.settle_ms if settled else self.step_ms
        due = min(now + quiet / 1000, self._first + self.spec.debounce_ms / 1000)
        self._due = False
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(due, self._batch_complete)

    def _batch_complete(self) -> None:
        self._timer = None
        self._due = True
        self._wake.set()

    def _watch_error(self, exc: OSError) -> ProcessError:
        where = f"{self.name}: cannot watch {exc.filename or self._cwd}"
        if exc.errno == errno.ENOSPC:
            return ProcessError(
                f"{where}: the inotify watch limit is reached (fs.inotify.max_user_watches = "
                f"{inotify.kernel_limit('max_user_watches')}, shared by every program of this "
                f"user; this watcher holds {self.watch_count}). Raise it: sudo sysctl "
                "fs.inotify.max_user_watches=524288 (to keep it, put that setting in a file in "
                "/etc/sysctl.d/), or narrow the unit's watch or ignore globs.")
        if exc.errno == errno.EMFILE:
            return ProcessError(
                f"{where}: too many inotify instances or open files (fs.inotify."
                f"max_user_instances = {inotify.kernel_limit('max_user_instances')}, shared by "
                "every program of this user). Raise it: sudo sysctl "
                "fs.inotify.max_user_instances=512 (to keep it, put that setting in a file in "
                "/etc/sysctl.d/).")
        return ProcessError(f"{where}: {exc.strerror}")

    # -- watchfiles (other systems, polling) ---------------------------------------------------

    async def _run_watchfiles(self, groups: list[tuple[list[Path], bool]]) -> None:
        lock = asyncio.Lock()
        loops = [asyncio.ensure_future(self._watchfiles_loop(paths, rec, lock))
                 for paths, rec in groups]
        # Each loop places its watches (polling: takes its first snapshot) synchronously as it
        # enters awatch, before its first await: one turn of the event loop and all are set.
        await asyncio.sleep(0)
        self.ready.set()
        await asyncio.gather(*loops)

    async def _watchfiles_loop(self, paths: list[Path], recursive: bool,
                               lock: asyncio.Lock) -> None:
        from watchfiles import awatch  # only here: the inotify backend does without it

        async for changes in awatch(
                *paths, watch_filter=lambda change, path: self.accepts(Change(change), path),
                debounce=max(self.spec.debounce_ms, 1), step=self.step_ms,
                stop_event=self._stop_event, recursive=recursive,
                force_polling=self.force_polling):
            rels = sorted({os.path.relpath(p, self._cwd) for _, p in changes})
            if not rels:
                continue
            # Two loops (recursive roots + the cwd's own files) share one callback: serialise.
            async with lock:
                await self._deliver(rels)

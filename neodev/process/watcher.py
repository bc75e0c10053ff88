"""File watching for hot reload, on `watchfiles.awatch`.

Not `watchfiles.run_process`: it signals only the direct child, installs a SIGTERM handler in our
process and lets child output hit the terminal (reference §3). The watcher only reports batches
of changed paths; restarting (and coalescing changes that arrive during a restart into exactly
one more restart) is the engine's job (neodev/engine/reload.py).

Watches are placed only where the globs can match (`src/**` watches `src/`, `package.json`
watches the cwd non-recursively), so a `node_modules` next to the sources costs no inotify
watches. Changes that arrive while `on_change` runs are buffered by watchfiles and delivered as
the next batch.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from watchfiles import Change, awatch

from neodev.config.globs import GlobSet
from neodev.config.model import ProcessSpec
from neodev.errors import ProcessError

OnChange = Callable[[list[str]], Awaitable[None] | None]




NEW_DIRECTORY_PROBE = "any-file"
"""A file name standing for "anything inside" when asking whether a new directory matters."""


class FileWatcher:
    """Watches one process's cwd and reports batches of matching changed paths.

    Args:
        spec: The process (cwd, watch and ignore globs, debounce_ms).
        on_change: Called with the sorted relative paths of each batch; may be async (it is
            awaited before the next batch is delivered).
        step_ms: Quiet time that ends a batch (default: the spec's `watch_step_ms`).
        force_polling: Poll instead of inotify (None = watchfiles' own default / env).
    """

    def __init__(self, spec: ProcessSpec, on_change: OnChange, *,
                 step_ms: int | None = None, force_polling: bool | None = None) -> None:
        self.spec = spec
        self.on_change = on_change
        self.globs = GlobSet(spec.watch, spec.ignore)
        self.step_ms = step_ms if step_ms is not None else spec.watch_step_ms
        self.force_polling = force_polling
        self.batches = 0
        """Batches delivered so far."""
        self._cwd = Path(spec.cwd).resolve()
        self._stop_event = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def accepts(self, change: Change, path: str) -> bool:
        """The watchfiles filter: True when a change to this absolute path counts."""
        try:
            rel = Path(path).resolve().relative_to(self._cwd).as_posix()
        except ValueError:
            return False
        inside = f"{rel}/{NEW_DIRECTORY_PROBE}"
        if Path(path).is_dir():
            # A directory counts only when it is new and what it holds would count (`src/` for
            # `src/**`, never `node_modules/`): files written into it in the same instant can
            # land before inotify watches it (`mkdir src && echo x > src/a.kt`, git checkouts).
            return change == Change.added and self.globs.matches(inside)
        if change == Change.deleted and self.globs.is_ignored(inside):
            return False  # gone, so it may have been an ignored directory (rm -rf node_modules)
        return self.globs.matches(rel)

    def watch_paths(self) -> list[tuple[list[Path], bool]]:
        """The (paths, recursive) groups to watch.

        Raises:
            ProcessError: The cwd does not exist.
        """
        if not self._cwd.is_dir():
            raise ProcessError(f"{self.name}: cannot watch {self._cwd}: directory does not exist "
                               "(ProcessSpec.cwd)")
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
            ProcessError: The cwd does not exist.
        """
        groups = self.watch_paths()
        await asyncio.gather(*(self._loop(paths, rec) for paths, rec in groups))

    def start(self) -> asyncio.Task[None]:
        """Run the watcher as a task of the running loop and return the task."""
        self._task = asyncio.create_task(self.run(), name=f"watch:{self.name}")
        return self._task

    async def stop(self) -> None:
        """Stop watching (watchfiles notices within one step) and wait for the task."""
        self._stop_event.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 5.0)
            except TimeoutError:
                self._task.cancel()

    async def _loop(self, paths: list[Path], recursive: bool) -> None:
        async for changes in awatch(
                *paths, watch_filter=self.accepts, debounce=max(self.spec.debounce_ms, 1),
                step=self.step_ms, stop_event=self._stop_event, recursive=recursive,
                force_polling=self.force_polling):
            rels = sorted({os.path.relpath(p, self._cwd) for _, p in changes})
            if not rels:
                continue
            # Two loops (recursive roots + the cwd's own files) share one callback: serialise.
            async with self._lock:
                self.batches += 1
                result = self.on_change(rels)
                if inspect.isawaitable(result):
                    await result

"""Directory trees watched through one inotify descriptor: FileWatcher's event source on Linux.

`InotifyTree` holds one descriptor with one watch per directory of a few roots (descending only
where a predicate allows, so `node_modules/` costs nothing), follows new, moved and deleted
directories, and turns the kernel's records (`neodev.process.inotify`) into `FileEvent`s
(change, path relative to the base, is a directory). This module knows the kernel's events, not
globs: deciding what counts and batching belong to `neodev.process.watcher`.

Only the roots the globs name are watched, not their parents, so nothing would say that a root
deleted and created again (`rm -rf src`, a branch switch, a generator rewriting `src/`) is
back: a root that goes away is awaited from its nearest existing parent, watched for that
alone, and watched again as before (what it holds reported) when it reappears.
"""

from __future__ import annotations

import ctypes
import errno
import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import NamedTuple

from neodev.process.inotify import (
    IN_ATTRIB,
    IN_CLOSE_WRITE,
    IN_CREATE,
    IN_DELETE,
    IN_DELETE_SELF,
    IN_DONT_FOLLOW,
    IN_IGNORED,
    IN_ISDIR,
    IN_MODIFY,
    IN_MOVE_SELF,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    IN_Q_OVERFLOW,
    READ_SIZE,
    WATCH_MASK,
    InotifyEvent,
    libc,
    new_descriptor,
    parse_events,
    raise_errno,
)


class Change(IntEnum):
    """What happened to a path; the same values as `watchfiles.Change`, so both backends share
    one filter."""

    added = 1
    modified = 2
    deleted = 3


class FileEvent(NamedTuple):
    """A change under the tree's base, as the watcher's filter sees it."""

    change: Change
    path: str
    """Relative to the base, with `/` separators."""
    is_dir: bool
    complete: bool | None = False
    """True: the change is whole (a file closed after writing, moved into place, deleted);
    False: more may follow (a file created or written while open, a new directory being
    filled); None: says nothing either way (attributes changed)."""


class Received(NamedTuple):
    """What one read of the descriptor brought."""

    events: list[FileEvent]
    overflowed: bool
    """The kernel dropped events (IN_Q_OVERFLOW): `events` is empty, report everything and
    `reopen`."""
    roots_gone: tuple[str, ...] = ()
    """Roots deleted or moved away, now awaited from their nearest existing parent."""
    roots_back: tuple[str, ...] = ()
    """Awaited roots that exist again, watched as before."""


@dataclass(slots=True)
class _Dir:
    path: str
    """Relative to the base ("" = the base itself)."""
    recursive: bool
    root: bool


class InotifyTree:
    """One inotify descriptor watching directory trees under a base directory.

    Args:
        fd: The inotify descriptor (from `InotifyTree.open`; closed by `close`).
        base: Absolute directory the paths are relative to.
        descend: Whether a directory (relative path) may hold anything that counts; one that
            may not is neither watched nor entered (`node_modules`, `build`, `.git`).
    """

    def __init__(self, fd: int, base: Path, descend: Callable[[str], bool]) -> None:
        self.fd = fd
        self.base = base
        self._descend = descend
        self._roots: dict[str, bool] = {}
        """Root (relative path) -> recursive."""
        self._dirs: dict[int, _Dir] = {}
        self._wds: dict[str, int] = {}
        self._awaited: dict[str, str] = {}
        """Root gone away -> the directory watched for its return (its nearest parent)."""
        self._gone: list[str] = []
        self._back: list[str] = []

    @classmethod
    def open(cls, base: Path, descend: Callable[[str], bool]) -> InotifyTree:
        """A tree with a new non-blocking, close-on-exec descriptor and no watches yet.

        Raises:
            OSError: inotify_init1 failed (EMFILE: `fs.inotify.max_user_instances`).
        """
        return cls(new_descriptor(), base, descend)

    @property
    def watch_count(self) -> int:
        """Watches held (one per watched directory)."""
        return len(self._dirs)

    @property
    def roots(self) -> list[str]:
        """The roots, relative to the base ("." for the base itself)."""
        return [root or "." for root in self._roots]

    def add_root(self, path: str, recursive: bool) -> None:
        """Watch a directory (relative path, "" = the base), and below it when `recursive`.

        Raises:
            OSError: A watch could not be placed (ENOSPC: `fs.inotify.max_user_watches`).
        """
        self._roots[path] = recursive
        self._place(path, recursive, root=True)
        if path not in self._wds:  # gone again already
            self._await(path)

    def read(self) -> bytes:
        """One read of the descriptor (b"" when nothing is waiting); `handle` what it gives.
        One read per call: the event loop calls again while the descriptor stays readable."""
        try:
            return os.read(self.fd, READ_SIZE)
        except BlockingIOError:
            return b""

    def handle(self, raw: bytes) -> Received:
        """The file events in `raw` (records as read from the descriptor); directories that
        appeared are watched (files already inside them reported), those that went away
        dropped.

        Raises:
            OSError: A watch for a new directory could not be placed.
        """
        found: list[FileEvent] = []
        self._gone, self._back = [], []
        for event in parse_events(raw):
            if event.mask & IN_Q_OVERFLOW:
                return Received([], True)  # everything is reported and watched again anyway
            if event.mask & IN_IGNORED:
                self._forget(event.wd)
            else:
                found.extend(self._translate(event))
        return Received(found, False, tuple(self._gone), tuple(self._back))

    def reopen(self) -> None:
        """A new descriptor with every root watched again (after a queue overflow the watches
        cannot be trusted: directories created or removed meanwhile went unseen).

        Raises:
            OSError: The descriptor or a watch could not be made.
        """
        self.close()
        self.fd = new_descriptor()
        self._awaited.clear()
        for path, recursive in self._roots.items():
            self._place(path, recursive, root=True)
            if path not in self._wds:
                self._await(path)

    def close(self) -> None:
        """Close the descriptor; the kernel drops its watches."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self._dirs.clear()
        self._wds.clear()

    # -- events -----------------------------------------------------------------------------

    def _translate(self, event: InotifyEvent) -> list[FileEvent]:
        directory = self._dirs.get(event.wd)
        if directory is None:
            return []  # queued before we dropped its watch (a directory moved away)
        mask = event.mask
        if not event.name:  # about the watched directory itself
            if mask & (IN_DELETE_SELF | IN_MOVE_SELF):
                return self._went_away(directory)
            return []  # others: the parent's event about the name reports them
        path = f"{directory.path}/{event.name}" if directory.path else event.name
        is_dir = bool(mask & IN_ISDIR)
        if mask & (IN_CREATE | IN_MOVED_TO):
            # Moved in: it arrives whole (an editor's atomic save). Created: writes follow.
            moved_in = bool(mask & IN_MOVED_TO)
            if is_dir and (directory.recursive or path in self._roots):
                return [FileEvent(Change.added, path, True, moved_in), *self._appeared(path)]
            found = [FileEvent(Change.added, path, is_dir, moved_in)]
            if is_dir:  # perhaps a parent of a root awaited: wait from there on
                for root in [r for r in self._awaited if r.startswith(f"{path}/")]:
                    found += self._await(root)
            return found
        if mask & (IN_DELETE | IN_MOVED_FROM):
            if is_dir:
                # Deleted: its watches end by themselves (IN_IGNORED). Moved: they would follow
                # it wherever it went.
                self._drop(path)
            return [FileEvent(Change.deleted, path, is_dir, True)]
        if mask & IN_CLOSE_WRITE:
            return [FileEvent(Change.modified, path, is_dir, True)]
        if mask & IN_MODIFY:
            return [FileEvent(Change.modified, path, is_dir, False)]
        if mask & IN_ATTRIB:
            return [FileEvent(Change.modified, path, is_dir, None)]
        return []

    def _went_away(self, directory: _Dir) -> list[FileEvent]:
        """A watched directory itself was deleted or moved away. For a root, nothing else says
        so (its parent is not watched): it is reported, and awaited. A moved directory keeps
        its watches, following it out of the tree: they are dropped. Roots awaited from here
        or below are awaited from further up."""
        path = directory.path
        inside = f"{path}/"
        lost = [root for root in self._roots if (root == path or root.startswith(inside))
                and root in self._wds and root not in self._awaited]
        waiting = [root for root, parent in self._awaited.items()
                   if parent == path or parent.startswith(inside)]
        if not path or not (lost or waiting):
            return []  # the base itself; or a directory inside a tree (its parent reports it)
        self._drop(path)
        self._gone += lost
        found = [FileEvent(Change.deleted, root, True, True) for root in lost]
        for root in [*lost, *waiting]:
            found += self._await(root)
        return found

    def _appeared(self, path: str) -> list[FileEvent]:
        """Watch a directory that was just created or moved in, and report what it holds."""
        if path in self._roots:
            if self._awaited.pop(path, None) is not None:
                self._back.append(path)
                self._release_parents()
            return self._place(path, self._roots[path], root=True, report=True)
        if not self._descend(path):
            return []
        return self._place(path, True, root=False, report=True)

    # -- watches ----------------------------------------------------------------------------

    def _place(self, path: str, recursive: bool, *, root: bool,
               report: bool = False) -> list[FileEvent]:
        """Watch `path` (and the directories below it that may hold changes, when recursive);
        with `report`, the entries found inside are returned as added. A watch is placed
        before its directory is listed, so an entry created meanwhile is listed or seen."""
        found: list[FileEvent] = []
        pending = [path]
        while pending:
            current = pending.pop()
            first = current == path
            if not self._watch(current, recursive, root=root and first,
                               follow=root and first):
                continue
            if not recursive:
                continue
            try:
                with os.scandir(os.path.join(self.base, current)) as entries:
                    for entry in entries:
                        child = f"{current}/{entry.name}" if current else entry.name
                        is_dir = entry.is_dir(follow_symlinks=False)
                        if report:
                            found.append(FileEvent(Change.added, child, is_dir))
                        if is_dir and self._descend(child):
                            pending.append(child)
            except (FileNotFoundError, NotADirectoryError):
                continue  # gone again: its parent reports that
        return found

    def _watch(self, path: str, recursive: bool, *, root: bool, follow: bool) -> bool:
        """Add one watch; False when the directory is gone (or not a directory) already."""
        mask = WATCH_MASK if follow else WATCH_MASK | IN_DONT_FOLLOW
        full = os.path.join(self.base, path)
        wd = libc().add_watch(self.fd, os.fsencode(full), mask)
        if wd < 0:
            code = ctypes.get_errno()
            if code in (errno.ENOENT, errno.ENOTDIR):
                return False  # removed, or replaced by a file (or a symlink), in the meantime
            raise OSError(code, os.strerror(code), full)
        if wd in self._dirs:
            return False  # the same directory through another path (a symlinked root)
        self._dirs[wd] = _Dir(path, recursive, root)
        self._wds[path] = wd
        return True

    def _drop(self, path: str) -> None:
        """Remove the watches at and below `path`."""
        prefix = f"{path}/"
        for watched, wd in list(self._wds.items()):
            if watched == path or watched.startswith(prefix) or not path:
                del self._wds[watched]
                del self._dirs[wd]
                if libc().rm_watch(self.fd, wd) < 0 and ctypes.get_errno() != errno.EINVAL:
                    raise_errno(watched)
                # EINVAL: the kernel ended it already (deleted); its IN_IGNORED is queued.

    def _await(self, root: str) -> list[FileEvent]:
        """Watch the nearest existing parent of a root that went away, for its return. When the
        root exists again already, or a parent nearer to it (`mkdir -p`, a checkout), go on
        from there: the root found is watched as before and what it holds reported."""
        parent = posixpath.dirname(root)
        while parent not in self._wds and not self._watch(parent, False, root=False,
                                                           follow=True):
            if not parent:
                return []  # the base itself is gone
            parent = posixpath.dirname(parent)
        self._awaited[root] = parent
        self._release_parents()
        # The watch is in place before the disk is looked at: a directory created meanwhile is
        # found here, a later one comes as an event.
        step = (root[len(parent) + 1:] if parent else root).split("/", 1)[0]
        nearer = f"{parent}/{step}" if parent else step
        if not os.path.isdir(os.path.join(self.base, nearer)):
            return []
        if nearer == root:
            return [FileEvent(Change.added, root, True), *self._appeared(root)]
        return self._await(root)

    def _release_parents(self) -> None:
        """Stop watching parents that were watched only to wait for a root no longer awaited."""
        awaited = set(self._awaited.values())
        for wd, directory in list(self._dirs.items()):
            if not directory.root and not directory.recursive and directory.path not in awaited:
                del self._dirs[wd], self._wds[directory.path]
                libc().rm_watch(self.fd, wd)

    def _forget(self, wd: int) -> None:
        """A watch ended (IN_IGNORED): its directory was deleted, or `_drop` removed it."""
        directory = self._dirs.pop(wd, None)
        if directory is not None and self._wds.get(directory.path) == wd:
            del self._wds[directory.path]


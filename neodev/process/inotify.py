"""The kernel's inotify through ctypes on libc: FileWatcher's event source on Linux.

Why not watchfiles here: its Rust `watch()` loop sleeps `step` ms, then takes the GIL to check
signals and the stop event, every step, forever; with a 10 ms step each watched group woke the
daemon 100 times a second with nothing to report. An inotify descriptor registered with the
event loop costs nothing until the kernel has an event for it.

This module knows the kernel, not globs. `InotifyTree` holds one descriptor with one watch per
directory of a few roots (descending only where a predicate allows, so `node_modules/` costs
nothing), follows new, moved and deleted directories, and turns event records into
`FileEvent`s (change, path relative to the base, is a directory). Deciding what counts and
batching belong to `neodev.process.watcher`.

Facts used (Linux man-pages inotify(7), inotify_add_watch(2), <sys/inotify.h>):

- a read returns whole `struct inotify_event { int wd; uint32_t mask, cookie, len; char
  name[len]; }` records (16-byte header, `name` NUL-padded, `len` counts the padding);
  a buffer of at least 16 + NAME_MAX + 1 bytes always holds one;
- events inside a watched directory carry the child's name (IN_ISDIR when it is a directory);
  events about the watched directory itself (IN_DELETE_SELF, IN_MOVE_SELF) carry none;
- IN_IGNORED follows the end of every watch (inotify_rm_watch, deletion, unmount);
- IN_Q_OVERFLOW (wd -1) means events were dropped (`fs.inotify.max_queued_events`);
- a rename gives IN_MOVED_FROM in the old directory and IN_MOVED_TO in the new one (either
  alone when the other side is not watched), and the watch of a moved directory follows it;
- watches are not recursive, and a new directory may hold files before its watch exists;
- inotify_add_watch fails with ENOSPC at `fs.inotify.max_user_watches`, inotify_init1 with
  EMFILE at `fs.inotify.max_user_instances`.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import NamedTuple, NoReturn

# Event bits (<sys/inotify.h>).
IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ISDIR = 0x40000000
# inotify_add_watch flags.
IN_ONLYDIR = 0x01000000
"""Fail with ENOTDIR unless the path is a directory (race-free: a file put in its place)."""
IN_DONT_FOLLOW = 0x02000000
IN_EXCL_UNLINK = 0x04000000
"""No events for children after they were unlinked (a temp file written after its unlink)."""
# inotify_init1 flags: defined as the open(2) flags (IN_NONBLOCK = O_NONBLOCK, IN_CLOEXEC =
# O_CLOEXEC), whose values differ between architectures, hence taken from `os`.
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

WATCH_MASK = (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MODIFY | IN_CLOSE_WRITE
              | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)
"""What a directory watch asks for. IN_MODIFY sees writes by a program that keeps the file
open; IN_CLOSE_WRITE ends a write, so a batch (which ends a quiet step after its last event)
is not cut between the last write and the close; IN_ATTRIB is `touch` and `chmod`. Opens,
reads and closes without writing (IN_OPEN, IN_ACCESS, IN_CLOSE_NOWRITE) are left out: the app
and editors read sources all the time."""

HEADER = struct.Struct("@iIII")
"""struct inotify_event without its name: wd, mask, cookie, len (16 bytes)."""
READ_SIZE = 64 * 1024
"""Bytes read per wake-up (hundreds of events; at least 16 + NAME_MAX + 1)."""


class Change(IntEnum):
    """What happened to a path; the same values as `watchfiles.Change`, so both backends share
    one filter."""

    added = 1
    modified = 2
    deleted = 3


class InotifyEvent(NamedTuple):
    """One `struct inotify_event` record."""

    wd: int
    mask: int
    cookie: int
    name: str
    """The child's name; empty for an event about the watched directory itself."""


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


def parse_events(raw: bytes) -> list[InotifyEvent]:
    """The records in one read(2) of an inotify descriptor.

    Args:
        raw: What the read returned (whole records, as the kernel writes them).

    Returns:
        The events in order; a truncated trailing record (never written by the kernel) is
        dropped.
    """
    events: list[InotifyEvent] = []
    offset = 0
    while offset + HEADER.size <= len(raw):
        wd, mask, cookie, length = HEADER.unpack_from(raw, offset)
        start = offset + HEADER.size
        if start + length > len(raw):
            break
        name = raw[start:start + length].split(b"\0", 1)[0]
        events.append(InotifyEvent(wd, mask, cookie, os.fsdecode(name)))
        offset = start + length
    return events


class _Libc:
    """The three libc calls, with their C signatures declared once (ctypes would otherwise
    guess them from the arguments)."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)  # the C library the interpreter runs on
        self.init1 = libc.inotify_init1
        self.init1.argtypes = [ctypes.c_int]
        self.init1.restype = ctypes.c_int
        self.add_watch = libc.inotify_add_watch
        self.add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self.add_watch.restype = ctypes.c_int
        self.rm_watch = libc.inotify_rm_watch
        self.rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
        self.rm_watch.restype = ctypes.c_int


@functools.cache
def libc() -> _Libc:
    """The libc inotify calls (loaded on first use).

    Raises:
        OSError: Not Linux, or the C library has no inotify.
    """
    if not sys.platform.startswith("linux"):
        raise OSError(errno.ENOSYS, "inotify is Linux only")
    try:
        return _Libc()
    except AttributeError as exc:  # a C library without the symbols
        raise OSError(errno.ENOSYS, f"no inotify in the C library: {exc}") from exc


def available() -> bool:
    """True when inotify can be used here (Linux, and the C library has it)."""
    try:
        libc()
    except OSError:
        return False
    return True


def _raise_errno(path: str | None = None) -> NoReturn:
    code = ctypes.get_errno()
    raise OSError(code, os.strerror(code), path)


def kernel_limit(name: str) -> str:
    """The current value of `/proc/sys/fs/inotify/<name>`, for messages ("?" if unreadable)."""
    try:
        return Path("/proc/sys/fs/inotify", name).read_text().strip()
    except OSError:
        return "?"


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

    @classmethod
    def open(cls, base: Path, descend: Callable[[str], bool]) -> InotifyTree:
        """A tree with a new non-blocking, close-on-exec descriptor and no watches yet.

        Raises:
            OSError: inotify_init1 failed (EMFILE: `fs.inotify.max_user_instances`).
        """
        return cls(_init(), base, descend)

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
        for event in parse_events(raw):
            if event.mask & IN_Q_OVERFLOW:
                return Received([], True)  # everything is reported and watched again anyway
            if event.mask & IN_IGNORED:
                self._forget(event.wd)
            else:
                found.extend(self._translate(event))
        return Received(found, False)

    def reopen(self) -> None:
        """A new descriptor with every root watched again (after a queue overflow the watches
        cannot be trusted: directories created or removed meanwhile went unseen).

        Raises:
            OSError: The descriptor or a watch could not be made.
        """
        self.close()
        self.fd = _init()
        for path, recursive in self._roots.items():
            self._place(path, recursive, root=True)

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
            if mask & (IN_DELETE_SELF | IN_MOVE_SELF) and directory.root:
                # Its parent is not watched, so nothing else says it went away. A moved
                # directory keeps its watches, following it out of the tree: drop them.
                self._drop(directory.path)
                return ([FileEvent(Change.deleted, directory.path, True, True)]
                        if directory.path else [])
            return []  # others: the parent's event about the name reports them
        path = f"{directory.path}/{event.name}" if directory.path else event.name
        is_dir = bool(mask & IN_ISDIR)
        if mask & (IN_CREATE | IN_MOVED_TO):
            # Moved in: it arrives whole (an editor's atomic save). Created: writes follow.
            moved_in = bool(mask & IN_MOVED_TO)
            if is_dir and (directory.recursive or path in self._roots):
                return [FileEvent(Change.added, path, True, moved_in), *self._appeared(path)]
            return [FileEvent(Change.added, path, is_dir, moved_in)]
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

    def _appeared(self, path: str) -> list[FileEvent]:
        """Watch a directory that was just created or moved in, and report what it holds."""
        if path in self._roots:
            recursive = self._roots[path]
            return self._place(path, recursive, root=True, report=True)
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
                    _raise_errno(watched)
                # EINVAL: the kernel ended it already (deleted); its IN_IGNORED is queued.

    def _forget(self, wd: int) -> None:
        """A watch ended (IN_IGNORED): its directory was deleted, or `_drop` removed it."""
        directory = self._dirs.pop(wd, None)
        if directory is not None and self._wds.get(directory.path) == wd:
            del self._wds[directory.path]


def _init() -> int:
    fd = int(libc().init1(IN_NONBLOCK | IN_CLOEXEC))
    if fd < 0:
        _raise_errno()
    return fd

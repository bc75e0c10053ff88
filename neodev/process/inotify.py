"""The kernel's inotify through ctypes on libc: FileWatcher's event source on Linux.

Why not watchfiles here: its Rust `watch()` loop sleeps `step` ms, then takes the GIL to check
signals and the stop event, every step, forever; with a 10 ms step each watched group woke the
daemon 100 times a second with nothing to report. An inotify descriptor registered with the
event loop costs nothing until the kernel has an event for it.

This module is the kernel's side: the constants, the three libc calls, the event records.
`neodev.process.inotree.InotifyTree` builds watched directory trees on it; deciding what
counts and batching belong to `neodev.process.watcher`.

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


class InotifyEvent(NamedTuple):
    """One `struct inotify_event` record."""

    wd: int
    mask: int
    cookie: int
    name: str
    """The child's name; empty for an event about the watched directory itself."""


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


def raise_errno(path: str | None = None) -> NoReturn:
    """The C library's errno as an OSError."""
    code = ctypes.get_errno()
    raise OSError(code, os.strerror(code), path)


def kernel_limit(name: str) -> str:
    """The current value of `/proc/sys/fs/inotify/<name>`, for messages ("?" if unreadable)."""
    try:
        return Path("/proc/sys/fs/inotify", name).read_text().strip()
    except OSError:
        return "?"


def new_descriptor() -> int:
    """A new non-blocking, close-on-exec inotify descriptor.

    Raises:
        OSError: inotify_init1 failed (EMFILE: `fs.inotify.max_user_instances`).
    """
    fd = int(libc().init1(IN_NONBLOCK | IN_CLOEXEC))
    if fd < 0:
        raise_errno()
    return fd

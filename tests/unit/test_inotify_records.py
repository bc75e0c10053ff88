"""Parsing `struct inotify_event` records (pure: bytes laid out as the kernel writes them)."""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

import pytest

from neodev.process import inotify
from neodev.process.inotify import InotifyEvent, parse_events


def record(wd: int, mask: int, name: bytes = b"", cookie: int = 0, pad_to: int = 16) -> bytes:
    """One record: the 16-byte header, then the name NUL-padded as the kernel pads it."""
    length = 0 if not name else -(-(len(name) + 1) // pad_to) * pad_to
    return struct.pack("=iIII", wd, mask, cookie, length) + name.ljust(length, b"\0")


def test_the_header_is_the_kernels_16_bytes() -> None:
    assert inotify.HEADER.size == 16


def test_records_are_parsed_in_order_with_their_names_unpadded() -> None:
    raw = (record(1, inotify.IN_CREATE | inotify.IN_ISDIR, b"pkg")
           + record(2, inotify.IN_MODIFY, b"Main.kt")
           + record(2, inotify.IN_MOVED_FROM, b"a-name-of-exactly-16", cookie=7)
           + record(3, inotify.IN_DELETE_SELF)
           + record(3, inotify.IN_IGNORED))
    assert parse_events(raw) == [
        InotifyEvent(1, inotify.IN_CREATE | inotify.IN_ISDIR, 0, "pkg"),
        InotifyEvent(2, inotify.IN_MODIFY, 0, "Main.kt"),
        InotifyEvent(2, inotify.IN_MOVED_FROM, 7, "a-name-of-exactly-16"),
        InotifyEvent(3, inotify.IN_DELETE_SELF, 0, ""),
        InotifyEvent(3, inotify.IN_IGNORED, 0, ""),
    ]


def test_an_overflow_record_has_no_watch_and_no_name() -> None:
    assert parse_events(record(-1, inotify.IN_Q_OVERFLOW)) == [
        InotifyEvent(-1, inotify.IN_Q_OVERFLOW, 0, "")]


def test_names_that_are_not_utf8_survive_as_the_os_spells_them() -> None:
    [event] = parse_events(record(1, inotify.IN_CREATE, b"caf\xe9.kt"))
    assert event.name == "caf\udce9.kt"  # os.fsdecode: surrogateescape, round-trips


def test_a_truncated_trailing_record_is_dropped() -> None:
    raw = record(1, inotify.IN_CREATE, b"kept") + record(1, inotify.IN_CREATE, b"cut")[:20]
    assert [e.name for e in parse_events(raw)] == ["kept"]
    assert parse_events(b"") == []


def test_flag_values_are_the_kernel_headers() -> None:
    header = Path("/usr/include/linux/inotify.h")
    if not header.exists():
        pytest.fail("no kernel header /usr/include/linux/inotify.h to compare the values with "
                    "(Debian: apt-get install linux-libc-dev; tests/run.sh does)")
    defined = {name: int(value, 16) for name, value in
               re.findall(r"#define\s+(IN_\w+)\s+(0x[0-9a-fA-F]+)", header.read_text())}
    ours = {name: getattr(inotify, name) for name in dir(inotify) if name.startswith("IN_")}
    compared = {name: value for name, value in ours.items() if name in defined}
    assert compared == {name: defined[name] for name in compared}
    # Every event and flag bit is checked; IN_NONBLOCK / IN_CLOEXEC are the open(2) flags.
    assert set(ours) - set(compared) == {"IN_NONBLOCK", "IN_CLOEXEC"}
    assert (inotify.IN_NONBLOCK, inotify.IN_CLOEXEC) == (os.O_NONBLOCK, os.O_CLOEXEC)

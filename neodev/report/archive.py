"""The report file: a zip of JSON records, bounded in size, read back within bounds.

Layout (each part readable on its own with `unzip -p FILE PART`):

    manifest.json          format, version, when, where from, the bounds and what was cut
    ping.json status.json  the daemon and every unit's status record
    wait.json              the verdict that made `start --wait` write the report (if any)
    units/<unit>.json      a unit's details: spec (masked), probes, dependencies, timeline
    logs/<unit>.ndjson     its retained lines, oldest first, one record per line
    events.ndjson          the state events since the daemon started
    diagnostics.json       the plan the daemon ran, each container's `docker inspect`, the
                           daemon's own log (all masked)
    doctor.json            `neodev doctor`'s checks;  wiring.json  the observability wiring

Bounds when writing: the whole content (uncompressed) within `max_bytes`; the event stream
within `MAX_EVENTS_BYTES`; the lines share what is left, each unit at least an equal share of
it, the oldest lines cut first. Every cut is named in the manifest. Reading refuses a file
that is not a report, of another version, or larger than `READ_LIMIT` once unpacked.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from neodev.errors import ReportError
from neodev.protocol.codec import ProtocolError, decode, encode
from neodev.protocol.documents import Diagnostics, Ping, Status, Wiring
from neodev.protocol.events import decode_event, encode_event
from neodev.protocol.logs import LogRecord
from neodev.protocol.units import UnitDetails, WaitResult
from neodev.report.model import (
    FORMAT,
    MAX_BYTES,
    MAX_EVENTS_BYTES,
    VERSION,
    CheckLine,
    Cut,
    Manifest,
    Report,
)

R = TypeVar("R")
READ_LIMIT = 1024 * 1024 * 1024
"""The most a report may unpack to when it is read (a zip bomb is refused, not unpacked)."""


# -- writing --------------------------------------------------------------------------------

def write_archive(report: Report, path: Path, max_bytes: int = MAX_BYTES) -> Manifest:
    """Write `report` to `path` (atomically: a reader never sees half a file) within
    `max_bytes`; returns the manifest written, with every cut named."""
    parts = _fixed_parts(report)
    cuts = list(report.manifest.cuts)
    events, dropped = _newest_within([_line(encode_event(e)) for e in report.events],
                                     MAX_EVENTS_BYTES)
    if dropped:
        cuts.append(Cut("events", len(events), dropped, f"the events' share of the report "
                        f"({_mib(MAX_EVENTS_BYTES)}): the oldest left out"))
    parts["events.ndjson"] = b"".join(events)
    budget = max_bytes - sum(len(data) for data in parts.values())
    lines = {unit: [_line(encode(r)) for r in records] for unit, records in report.logs.items()}
    for unit, share in _fair_shares({u: sum(map(len, ls)) for u, ls in lines.items()},
                                    max(budget, 0)).items():
        kept, dropped = _newest_within(lines[unit], share)
        parts[f"logs/{unit}.ndjson"] = b"".join(kept)
        if dropped:
            cuts.append(Cut(f"logs/{unit}", len(kept), dropped,
                            f"the report's bound of {_mib(max_bytes)}: the oldest lines "
                            "left out"))
    manifest = replace(report.manifest, max_bytes=max_bytes, cuts=tuple(cuts))
    parts["manifest.json"] = _json(encode(manifest))
    _write_zip(path, parts)
    return manifest


def _fixed_parts(report: Report) -> dict[str, bytes]:
    parts = {"ping.json": _json(encode(report.ping)),
             "status.json": _json(encode(report.status)),
             "diagnostics.json": _json(encode(report.diagnostics)),
             "doctor.json": _json(encode(report.doctor))}
    if report.wiring is not None:
        parts["wiring.json"] = _json(encode(report.wiring))
    if report.wait is not None:
        parts["wait.json"] = _json(encode(report.wait))
    for name, details in report.units.items():
        parts[f"units/{name}.json"] = _json(encode(details))
    return parts


def _fair_shares(sizes: dict[str, int], budget: int) -> dict[str, int]:
    """Split `budget` among units: a unit that needs less than an equal share gets what it
    needs, and the rest is shared among the others (smallest first)."""
    shares: dict[str, int] = {}
    left = dict(sorted(sizes.items(), key=lambda item: item[1]))
    while left:
        unit, size = next(iter(left.items()))
        shares[unit] = min(size, budget // len(left))
        budget -= shares[unit]
        del left[unit]
    return shares


def _newest_within(lines: list[bytes], limit: int) -> tuple[list[bytes], int]:
    """The newest of `lines` that fit in `limit` bytes, oldest first; and how many did not."""
    total, start = 0, len(lines)
    while start > 0 and total + len(lines[start - 1]) <= limit:
        start -= 1
        total += len(lines[start])
    return lines[start:], start


def _write_zip(path: Path, parts: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for name in sorted(parts, key=lambda n: n != "manifest.json"):
                archive.writestr(name, parts[name])
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=1).encode()


def _line(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:g} MiB"


# -- reading --------------------------------------------------------------------------------

def read_archive(path: Path) -> Report:
    """The report in `path`.

    Raises:
        ReportError: not a neodev report (naming what is wrong), another version, a part that
            does not read as its record, or larger than `READ_LIMIT` unpacked.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            return _read(_Parts(path, archive))
    except (OSError, zipfile.BadZipFile) as exc:
        raise ReportError(f"{path} is not a readable neodev report: {exc}") from exc


class _Parts:
    """The members of an open archive, each read within what is left of `READ_LIMIT`."""

    def __init__(self, path: Path, archive: zipfile.ZipFile) -> None:
        self.path = path
        self._archive = archive
        self.names = set(archive.namelist())
        self._left = READ_LIMIT

    def raw(self, name: str) -> bytes:
        try:
            with self._archive.open(name) as member:
                data = member.read(self._left + 1)
        except KeyError:
            raise ReportError(f"{self.path}: the report has no {name}") from None
        self._left -= len(data)
        if self._left < 0:
            raise ReportError(f"{self.path}: the report unpacks to more than "
                              f"{_mib(READ_LIMIT)}; it was not written by neodev report")
        return data

    def record(self, name: str, read: Callable[[Any], R]) -> R:
        try:
            return read(json.loads(self.raw(name)))
        except (ValueError, ProtocolError) as exc:
            raise ReportError(f"{self.path}: {name} is not what a report holds: {exc}") from exc

    def records(self, name: str, read: Callable[[Any], R]) -> list[R]:
        """The records of an NDJSON part (none when the part is absent)."""
        if name not in self.names:
            return []
        try:
            return [read(json.loads(line)) for line in self.raw(name).splitlines() if line]
        except (ValueError, ProtocolError) as exc:
            raise ReportError(f"{self.path}: {name} is not what a report holds: {exc}") from exc


def _read(parts: _Parts) -> Report:
    if "manifest.json" not in parts.names:
        raise ReportError(f"{parts.path} has no manifest.json: it is not a neodev report "
                          "(write one with `neodev report -o FILE`)")
    manifest = parts.record("manifest.json", lambda d: decode(Manifest, d))
    if manifest.format != FORMAT or manifest.version != VERSION:
        raise ReportError(f"{parts.path} is a {manifest.format!r} file of version "
                          f"{manifest.version}; this neodev reads {FORMAT!r} version {VERSION}")
    status = parts.record("status.json", lambda d: decode(Status, d))
    names = [u.name for u in status.units]
    return Report(
        manifest=manifest, ping=parts.record("ping.json", lambda d: decode(Ping, d)),
        status=status,
        units=dict(_present(parts, names, "units/{}.json",
                            lambda d: decode(UnitDetails, d))),
        logs={name: parts.records(f"logs/{name}.ndjson", lambda d: decode(LogRecord, d))
              for name in names},
        events=parts.records("events.ndjson", decode_event),
        diagnostics=_optional(parts, "diagnostics.json", Diagnostics) or Diagnostics(),
        doctor=parts.record("doctor.json", lambda d: [decode(CheckLine, c) for c in d])
        if "doctor.json" in parts.names else [],
        wiring=_optional(parts, "wiring.json", Wiring),
        wait=_optional(parts, "wait.json", WaitResult))


def _optional(parts: _Parts, name: str, cls: type[R]) -> R | None:
    return parts.record(name, lambda d: decode(cls, d)) if name in parts.names else None


def _present(parts: _Parts, names: Iterable[str], pattern: str, read: Callable[[Any], R]
             ) -> Iterable[tuple[str, R]]:
    for name in names:
        member = pattern.format(name)
        if member in parts.names:
            yield name, parts.record(member, read)

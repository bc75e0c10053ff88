"""Which process groups this workspace's daemon started, persisted across daemon crashes.

`.neodev/pids.json` maps each unit to {pid, pgid, create_time, command}. A daemon that was
SIGKILLed leaves its process groups running (they have their own session); the next daemon
calls `reap_orphans` before starting anything. A recorded pid is trusted only while its
create_time still matches: a pid reused by an unrelated process is never signalled.
"""

from __future__ import annotations

import json
from pathlib import Path

import psutil

from neodev.jsontypes import JsonObject
from neodev.process.tree import (
    CREATE_TIME_TOLERANCE,
    group_members,
    is_alive,
    kill_tree,
    snapshot,
)
from neodev.statefile import read_state, write_private


class PidRegistry:
    """The persisted {unit: {pid, pgid, create_time, command}} map (atomic writes).

    Args:
        path: The JSON file (normally `WorkspacePaths.pids_file`).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, JsonObject]:
        """The recorded entries; {} when the file is missing or unreadable."""
        return read_state(self.path) or {}

    def record(self, unit: str, pid: int, pgid: int, create_time: float,
               command: list[str] | tuple[str, ...]) -> None:
        """Remember a started process group."""
        entries = self.load()
        entries[unit] = {"pid": pid, "pgid": pgid, "create_time": create_time,
                         "command": list(command)}
        self._write(entries)

    def remove(self, unit: str) -> None:
        """Forget a unit (its group was stopped)."""
        entries = self.load()
        if entries.pop(unit, None) is not None:
            self._write(entries)

    def _write(self, entries: dict[str, JsonObject]) -> None:
        write_private(self.path, json.dumps(entries, indent=2, sort_keys=True))


def own_process_groups(path: Path) -> set[int]:
    """The process groups a running environment recorded whose leaders still are what was
    recorded (pid + create time): ports they hold are the environment's own."""
    groups: set[int] = set()
    for entry in PidRegistry(path).load().values():
        try:
            pid, pgid, ctime = int(entry["pid"]), int(entry["pgid"]), float(entry["create_time"])
        except (KeyError, TypeError, ValueError):
            continue
        if is_alive(pid, ctime):
            groups.add(pgid)
    return groups


def reap_orphans(registry: PidRegistry, grace: float = 3.0) -> list[str]:
    """Kill the process groups a previous (crashed) daemon left running.

    Blocking (psutil, sleeps): run it in a thread from async code. Every entry is removed from
    the registry afterwards, whatever was found.

    A group is killed only when its leader's pid AND create_time still match the record. When
    the leader is gone, members still in its group (created after it) are killed: Linux never
    hands out a pid that is still some group's id, so they can only be ours.

    Args:
        registry: The registry of the previous run.
        grace: Seconds between SIGTERM and SIGKILL.

    Returns:
        One message per recorded unit saying what was done, e.g.
        `backend: killed process group 4242 (./gradlew run)`.
    """
    messages: list[str] = []
    for unit, entry in sorted(registry.load().items()):
        try:
            pid, pgid = int(entry["pid"]), int(entry["pgid"])
            ctime = float(entry["create_time"])
        except (KeyError, TypeError, ValueError):
            messages.append(f"{unit}: unreadable record {entry!r}; ignored")
            continue
        command = " ".join(entry.get("command") or [])
        try:
            leader = psutil.Process(pid)
            leader_ctime = leader.create_time()
        except psutil.NoSuchProcess:
            leader = None
        if leader is not None and abs(leader_ctime - ctime) > CREATE_TIME_TOLERANCE:
            messages.append(f"{unit}: pid {pid} now belongs to another process "
                            f"(started later); left alone")
            continue
        procs = snapshot(pid) if leader is not None else []
        procs += [p for p in group_members(pgid, not_before=ctime) if p not in procs]
        if not procs:
            messages.append(f"{unit}: process group {pgid} already gone")
            continue
        survivors = kill_tree(pgid, procs, grace)
        outcome = "killed" if not survivors else f"could not kill {len(survivors)} of"
        messages.append(f"{unit}: {outcome} process group {pgid} ({command})")
    for unit in list(registry.load()):
        registry.remove(unit)
    return messages

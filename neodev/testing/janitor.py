"""Remove what test runs left on the Docker engine: by label, never by name.

Ryuk (testcontainers' reaper) cannot be pulled everywhere and would remove a container that
other xdist workers still use when the worker that started it ends, so the plugin cleans up
itself: the owner of a run removes the run's containers, volumes and network when it ends,
and every run starts by removing what runs whose owner process is gone left behind (a crash,
a SIGKILL, a CI job cancelled mid-way). "Gone" is judged only for owners on this host, by pid
and create time, so neither a reused pid nor another machine sharing the engine is mistaken.
"""

from __future__ import annotations

import functools
import shutil
import socket
from collections.abc import Callable, Mapping

from docker import DockerClient
from docker.errors import APIError, NotFound

from neodev.docker.labels import (
    PYTEST,
    PYTEST_OWNER_HOST,
    PYTEST_OWNER_PID,
    PYTEST_OWNER_STARTED,
    PYTEST_SESSION,
)
from neodev.errors import LeftoverError
from neodev.process.tree import is_alive
from neodev.testing.run import stale_run_directories

Alive = Callable[[int, float], bool]

OWNER_TOLERANCE = 5.0
"""Seconds an owner's recorded create time may differ from what another process reads now.
psutil derives create times from the boot time in /proc/stat, which moves when the clock is
stepped (time synchronisation, a resumed VM), so two processes can disagree by a second or
more. The two mistakes are not alike: a live owner judged gone has its run's containers and
state removed while its tests use them; a dead owner judged alive (its pid reused within
seconds of its start) only leaves its leftovers to a later run."""


def owner_alive(pid: int, started: float) -> bool:
    """Whether a run's owner still runs (its identity compared within OWNER_TOLERANCE)."""
    return is_alive(pid, started, tolerance=OWNER_TOLERANCE)


def owner_gone(labels: Mapping[str, str], alive: Alive = owner_alive,
               host: str | None = None) -> bool:
    """True when the labels name an owner process on this host that no longer runs.

    Resources of another host, or with unreadable owner labels, are never judged gone.
    """
    if labels.get(PYTEST_OWNER_HOST) != (host or socket.gethostname()):
        return False
    try:
        pid, started = int(labels[PYTEST_OWNER_PID]), float(labels[PYTEST_OWNER_STARTED])
    except (KeyError, ValueError):
        return False
    return not alive(pid, started)


def remove_leftovers(client: DockerClient, alive: Alive = owner_alive) -> list[str]:
    """Remove every plugin resource whose owning pytest process is gone (and stale run dirs).

    Returns:
        What was removed, e.g. `container neotool-pytest-1a2b-postgres-1`.
    """
    removed = _remove(client, [f"{PYTEST}=1"], lambda labels: owner_gone(labels, alive))
    for directory in stale_run_directories(alive):
        shutil.rmtree(directory, ignore_errors=True)  # a private temp dir; nothing to report
    return removed


def remove_run(client: DockerClient, session: str) -> list[str]:
    """Remove the containers (with their anonymous volumes), volumes and network of one run.

    Returns:
        What was removed, by kind and name.
    """
    return _remove(client, [f"{PYTEST}=1", f"{PYTEST_SESSION}={session}"], lambda _: True)


def _remove(client: DockerClient, label_filter: list[str],
            wanted: Callable[[Mapping[str, str]], bool]) -> list[str]:
    removed: list[str] = []
    problems: list[str] = []
    # ignore_removed: another run's cleanup may remove one between Docker's list and inspect
    for container in client.containers.list(all=True, filters={"label": label_filter},
                                            ignore_removed=True):
        if wanted(container.labels or {}):
            _attempt(functools.partial(container.remove, force=True, v=True),
                     f"container {container.name}", removed, problems)
    for volume in client.volumes.list(filters={"label": label_filter}):
        if wanted(volume.attrs.get("Labels") or {}):
            _attempt(functools.partial(volume.remove, force=True), f"volume {volume.name}",
                     removed, problems)
    for network in client.networks.list(filters={"label": label_filter}):
        if wanted(network.attrs.get("Labels") or {}):
            _attempt(network.remove, f"network {network.name}", removed, problems)
    if problems:
        raise LeftoverError(removed, problems)
    return removed


def _attempt(remove: Callable[[], object], what: str, removed: list[str],
             problems: list[str]) -> None:
    try:
        remove()
    except NotFound:
        return  # removed meanwhile (by its owner, or another janitor): what we wanted
    except APIError as e:
        problems.append(f"{what}: {e.explanation or e}")
        return
    removed.append(what)

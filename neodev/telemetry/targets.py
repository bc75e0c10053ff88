"""Prometheus scrape targets from the plan, as file_sd files in the directory Prometheus watches.

Why this module exists: Prometheus runs in a container and must learn which units expose
metrics, and where, as units start and stop — without a restart and without neodev opening a
listener of its own (`http_sd` would need one, and polls every 60 s). Prometheus' `file_sd`
re-reads a watched directory as soon as a file in it changes (reference §9), so neodev writes
one small JSON file per running unit and removes it when the unit stops.

Two halves:
- `target_groups` is pure: plan + the names of the running units -> file_sd target groups.
  Host processes are reached from the Prometheus container as `host.docker.internal:<port>`
  (they listen on loopback and the bridge gateway, `neodev.hostnet`); containers on the
  project network as `<service>:<container port>` (their network alias), published or not.
- `TargetWriter` puts the groups into the directory, one `<unit>.json` each, atomically through
  `neodev.statefile.write_private`, readable by the Prometheus user (another uid than ours).

The directory is the host side of the Prometheus container's bind mount at `TARGETS_MOUNT`
(`targets_dir` reads it from the plan), so what neodev writes is by construction what
Prometheus reads; the shipped compose file mounts `<workspace>/.neodev/prometheus/targets`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from neodev.config.model import (
    ContainerSpec,
    EnvironmentPlan,
    MetricsEndpoint,
    ProcessSpec,
    UnitSpec,
)
from neodev.hostnet import HOST_FROM_CONTAINERS
from neodev.statefile import write_private
from neodev.telemetry import labels

TARGETS_MOUNT = "/etc/prometheus/targets"
"""Where the Prometheus container sees the targets directory (`file_sd_configs` in
compose/prometheus.yml reads `*.json` there)."""

TARGET_FILE_MODE = 0o644
"""Target files hold no secret and are read by the Prometheus user (`nobody` in the image)."""

TARGET_DIR_MODE = 0o755
"""The mounted directory itself must be listable by that user; its parents need not be (the
bind mount exposes the directory alone, so `.neodev/` stays 0700)."""

METRICS_PATH_LABEL = "__metrics_path__"
"""Prometheus' own label for the scrape path of a target (overrides the job's `metrics_path`)."""

_FILE_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class TargetGroup(TypedDict):
    """One file_sd target group, exactly as Prometheus reads it from a JSON file."""

    targets: list[str]
    labels: dict[str, str]


@dataclass(frozen=True)
class SyncReport:
    """What `TargetWriter.sync` changed on disk."""

    written: tuple[str, ...]
    """Units whose file was created or changed."""
    removed: tuple[str, ...]
    """Units whose file was deleted."""


def scrape_address(plan: EnvironmentPlan, unit: str) -> str | None:
    """The `host:port` the Prometheus container scrapes for one unit, None without metrics.

    Args:
        plan: The environment plan.
        unit: A unit name of the plan.

    Raises:
        KeyError: the unit is not in the plan.
    """
    spec = plan.units[unit]
    endpoint = _endpoint(spec)
    if endpoint is None:
        return None
    if isinstance(spec, ContainerSpec):
        # The service name is the container's alias on the project network (as in compose).
        return f"{spec.service}:{endpoint.port}"
    return f"{HOST_FROM_CONTAINERS}:{endpoint.port}"


def target_groups(plan: EnvironmentPlan, running: Iterable[str]) -> list[TargetGroup]:
    """The file_sd target groups for the running units that declare a metrics endpoint.

    Args:
        plan: The environment plan (units and their `metrics`).
        running: Names of the units that are running now (state `running`, healthy or not:
            an unhealthy unit is still worth scraping, its `up` says the rest).

    Returns:
        One group per running unit with metrics, in plan order (containers, then processes),
        labelled `project`, `unit`, `kind` and `__metrics_path__`.

    Raises:
        ValueError: a name in `running` is not a unit of the plan.
    """
    wanted = set(running)
    unknown = wanted - set(plan.units)
    if unknown:
        raise ValueError(f"not units of this plan: {', '.join(sorted(unknown))}")
    groups: list[TargetGroup] = []
    for name, spec in plan.units.items():
        if name not in wanted:
            continue
        address, metrics = scrape_address(plan, name), _endpoint(spec)
        if address is None or metrics is None:
            continue
        groups.append({"targets": [address],
                       "labels": {labels.PROJECT: plan.project, labels.UNIT: name,
                                  labels.KIND: spec.kind.value,
                                  METRICS_PATH_LABEL: metrics.path}})
    return groups


def targets_dir(plan: EnvironmentPlan) -> Path | None:
    """The host directory bind-mounted at `TARGETS_MOUNT` in a container of the plan.

    None when no container mounts it (no Prometheus, or one configured without file_sd): then
    nobody would read target files and none should be written.
    """
    for container in plan.containers.values():
        for mount in container.volumes:
            if mount.type == "bind" and mount.target.rstrip("/") == TARGETS_MOUNT:
                return Path(mount.source)
    return None


class TargetWriter:
    """Keeps one `<unit>.json` file_sd file per running unit in the targets directory.

    Only files of the units it owns (the plan's units) are ever removed, so a hand-written
    target file in the same directory survives. Every call is blocking file I/O (each write is
    fsync-ed): call it from a thread (`asyncio.to_thread`) on the daemon's event loop.

    Args:
        directory: The host side of the Prometheus targets mount (`targets_dir(plan)`).
        units: The unit names whose files this writer manages.
    """

    def __init__(self, directory: Path, units: Iterable[str]) -> None:
        self.directory = Path(directory)
        self._units = tuple(dict.fromkeys(units))
        for unit in self._units:
            _check_stem(unit)

    def path(self, unit: str) -> Path:
        """The file of one unit."""
        return self.directory / f"{_check_stem(unit)}.json"

    def prepare(self) -> Path:
        """Create the directory (mode 0755) so it exists before the Prometheus container starts.

        Docker would otherwise create a missing bind source itself, owned by root, and neodev
        could not write into it afterwards.

        Returns:
            The directory.

        Raises:
            PermissionError: the directory exists but this user cannot write into it.
            OSError: it cannot be created.
        """
        self.directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory.mkdir(mode=TARGET_DIR_MODE, exist_ok=True)
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise PermissionError(
                f"cannot write Prometheus targets into {self.directory} (owner uid "
                f"{self.directory.stat().st_uid}): Docker creates a missing bind-mount source "
                "as root; remove the directory and let neodev create it")
        # mkdir's mode is filtered by the umask: make "readable by the Prometheus user" exact.
        if self.directory.stat().st_mode & 0o777 != TARGET_DIR_MODE:
            os.chmod(self.directory, TARGET_DIR_MODE)
        return self.directory

    def sync(self, groups: Iterable[TargetGroup]) -> SyncReport:
        """Make the directory hold exactly these groups: write changed files, remove the rest.

        Args:
            groups: `target_groups(plan, running)`; grouped into files by their `unit` label.

        Returns:
            Which units' files were written and removed (unchanged files are not rewritten, so
            Prometheus is not made to re-read them).

        Raises:
            ValueError: a group has no `unit` label, or names a unit this writer does not own.
            OSError: the directory cannot be written.
        """
        by_unit: dict[str, list[TargetGroup]] = {}
        for group in groups:
            unit = group["labels"].get(labels.UNIT)
            if unit is None or unit not in self._units:
                raise ValueError(f"target group for unit {unit!r}: not a unit of this writer")
            by_unit.setdefault(unit, []).append(group)
        self.prepare()
        written: list[str] = []
        for unit, unit_groups in by_unit.items():
            content = json.dumps(unit_groups, indent=2, sort_keys=True) + "\n"
            path = self.path(unit)
            if _read(path) != content:
                write_private(path, content, mode=TARGET_FILE_MODE)
                written.append(unit)
        removed = [unit for unit in self._units if unit not in by_unit and self.remove(unit)]
        return SyncReport(written=tuple(written), removed=tuple(removed))

    def remove(self, unit: str) -> bool:
        """Delete one unit's file (its unit stopped). Returns whether there was one."""
        try:
            self.path(unit).unlink()
        except FileNotFoundError:
            return False
        return True


def _endpoint(spec: UnitSpec) -> MetricsEndpoint | None:
    return spec.metrics if isinstance(spec, ProcessSpec | ContainerSpec) else None


def _check_stem(unit: str) -> str:
    # Unit names become file names: nothing that could leave the directory or hide as a dotfile.
    if not _FILE_STEM.fullmatch(unit):
        raise ValueError(f"unit name {unit!r} cannot name a target file")
    return unit


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None

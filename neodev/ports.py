"""Host ports: which ones an environment claims, whether each is free, and who holds it.

The one port check, used by `doctor` and by the daemon before anything starts, so a port never
gets two verdicts. A unit claims every address it will bind: a container its published
`host_ip:host_port`, a process its `port` on each bind address (loopback and the Docker bridge
gateway, see `neodev.hostnet`). A claim is free when a socket can bind to exactly that
address, ours when one of the project's own containers publishes it (it is adopted or
recreated), and taken otherwise — then the holder is named: a container by name, a local
process by name and PID when the OS shows it (psutil sees only the current network namespace,
and other users' sockets without their PID unless run as root).
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import psutil

from neodev.config.model import EnvironmentPlan
from neodev.hostnet import LOOPBACK, bind_hosts

PublishedPorts = Mapping[tuple[int, str], tuple[str, str]]
"""(host port, protocol) -> (container name, compose project) of the running containers."""

Status = Literal["free", "ours", "taken", "unusable"]


@dataclass(frozen=True)
class PortClaim:
    """One address a unit will listen on."""

    unit: str
    host_ip: str
    port: int
    protocol: str = "tcp"
    container_port: int | None = None
    """For a container: the container port published on this host port."""

    @property
    def label(self) -> str:
        return f"{self.host_ip}:{self.port}/{self.protocol} ({self.unit})"

    @property
    def fix(self) -> str:
        if self.container_port is None:
            return f"change `port` of [processes.{self.unit}] in the profile"
        return "change the published port in the compose file"


@dataclass(frozen=True)
class PortVerdict:
    """The verdict on one claim."""

    claim: PortClaim
    status: Status
    owner: str | None = None
    """Who holds the port ("container x", "python3 (pid 42)"), when it can be told."""
    detail: str = ""
    """For `unusable`: why the address cannot be bound at all."""

    @property
    def ok(self) -> bool:
        return self.status in ("free", "ours")

    @property
    def problem(self) -> str:
        """What was found: `127.0.0.1:5432/tcp (postgres): already in use by x`."""
        claim = self.claim
        if self.status == "free":
            return f"{claim.label}: free"
        if self.status == "ours":
            return f"{claim.label}: in use by neodev's own {self.owner}"
        if self.status == "unusable":
            return f"{claim.label}: cannot listen on {claim.host_ip}: {self.detail}"
        return f"{claim.label}: already in use by {self.owner or 'another program'}"

    @property
    def hint(self) -> str:
        """What to do about it (empty when ok)."""
        if self.status == "unusable":
            return "use 127.0.0.1 (or another address of this machine)"
        return "" if self.ok else f"stop it, or {self.claim.fix}"

    @property
    def message(self) -> str:
        return f"{self.problem}. {self.hint[:1].upper()}{self.hint[1:]}." if self.hint \
            else self.problem


def plan_claims(plan: EnvironmentPlan, units: Iterable[str] | None = None,
                process_hosts: list[str] | None = None) -> list[PortClaim]:
    """Every address the named units (all when None) will bind.

    Args:
        plan: The environment.
        units: The units to check (default: all of the plan).
        process_hosts: The addresses processes bind (default: `hostnet.bind_hosts()`).
    """
    names = set(plan.units if units is None else units)
    hosts = process_hosts if process_hosts is not None else bind_hosts()
    claims: list[PortClaim] = []
    for spec in plan.containers.values():
        if spec.name in names:
            claims += [PortClaim(spec.name, p.host_ip, p.host_port, p.protocol, p.container_port)
                       for p in spec.ports if p.host_port is not None]
    for proc in plan.processes.values():
        own = ([proc.port] if proc.port is not None else []) + list(proc.extra_ports)
        if proc.name in names:
            claims += [PortClaim(proc.name, host, port) for port in own for host in hosts]
    return claims


def check_claims(claims: Iterable[PortClaim], published: PublishedPorts, project: str,
                 own_groups: Collection[int] = ()) -> list[PortVerdict]:
    """One verdict per claim (blocking: binds sockets and may scan connections).

    Args:
        claims: The addresses to check.
        published: The host ports running containers publish.
        project: The environment's compose project (its containers' ports are ours).
        own_groups: Process groups of the environment's own running processes (from
            `.neodev/pids.json`): a port one of them holds is ours, not a conflict.
    """
    verdicts = []
    for claim in claims:
        holder = published.get((claim.port, claim.protocol))
        if holder is not None:
            name, owner_project = holder
            status: Status = "ours" if owner_project == project else "taken"
            other = f" of project {owner_project}" if owner_project and status == "taken" else ""
            verdicts.append(PortVerdict(claim, status, f"container {name}{other}"))
            continue
        try:
            free = can_bind(claim.host_ip, claim.port, claim.protocol)
        except OSError as exc:
            verdicts.append(PortVerdict(claim, "unusable", detail=exc.strerror or str(exc)))
            continue
        if free:
            verdicts.append(PortVerdict(claim, "free"))
            continue
        pid, owner = port_holder(claim.port, claim.protocol, claim.host_ip)
        if pid is not None and _group_of(pid) in own_groups:
            verdicts.append(PortVerdict(claim, "ours", f"process {owner}"))
        else:
            verdicts.append(PortVerdict(claim, "taken", owner))
    return verdicts


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def can_bind(host_ip: str, port: int, protocol: str = "tcp") -> bool:
    """True when nothing holds host_ip:port.

    SO_REUSEADDR, as the servers neodev starts set it: the TIME_WAIT leftovers of the
    unit's previous run do not count (Linux allows that when both sockets ask for it).

    Raises:
        OSError: for errors other than "address in use" / "permission denied"
            (e.g. an address that is not on this machine).
    """
    family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    with socket.socket(family, kind) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host_ip, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def loopback_free(port: int) -> bool:
    """Whether `port` can be bound on loopback now (what an instance's block of ports is
    chosen by); an address error counts as not free."""
    try:
        return can_bind(LOOPBACK, port)
    except OSError:
        return False


def port_holder(port: int, protocol: str = "tcp", host_ip: str | None = None
                ) -> tuple[int | None, str | None]:
    """(pid, 'name (pid N)') of the local process listening on `port`; (None, None) when none
    is visible, (None, text) when the OS hides the pid.

    With `host_ip`, a listener on exactly that address (or on the wildcard) is preferred over
    one on another address of the same port.
    """
    kind = "udp" if protocol == "udp" else "tcp"
    try:
        connections = psutil.net_connections(kind=kind)
    except psutil.AccessDenied:
        return None, None
    listeners = [c for c in connections if c.laddr and c.laddr.port == port
                 and (kind == "udp" or c.status == psutil.CONN_LISTEN)]
    if host_ip is not None:
        listeners.sort(key=lambda c: c.laddr.ip not in (host_ip, "0.0.0.0", "::"))
    for conn in listeners:
        if conn.pid is None:
            return None, "another user's process (run as root to see which)"
        try:
            name = psutil.Process(conn.pid).name()
        except psutil.Error:
            name = "a process"
        return conn.pid, f"{name} (pid {conn.pid})"
    return None, None

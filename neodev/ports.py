"""Host ports: is one free, and who holds it.

Shared by `doctor`, the daemon's pre-start check and the container driver, so every place that
says "port taken" says it the same way: the address, and the owning process and PID when the OS
shows them (psutil sees only the current network namespace, and other users' sockets without
their PID unless run as root).
"""

from __future__ import annotations

import errno
import socket

import psutil


def can_bind(host_ip: str, port: int, protocol: str = "tcp") -> bool:
    """True when nothing holds host_ip:port (SO_REUSEADDR ignores TIME_WAIT leftovers).

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


def port_owner(port: int, protocol: str = "tcp") -> str | None:
    """'name (pid N)' of the local process listening on `port`, or None when not visible."""
    kind = "udp" if protocol == "udp" else "tcp"
    try:
        connections = psutil.net_connections(kind=kind)
    except psutil.AccessDenied:
        return None
    for conn in connections:
        if not conn.laddr or conn.laddr.port != port:
            continue
        if kind == "tcp" and conn.status != psutil.CONN_LISTEN:
            continue
        if conn.pid is None:
            return "another user's process (run as root to see which)"
        try:
            name = psutil.Process(conn.pid).name()
        except psutil.Error:
            name = "a process"
        return f"{name} (pid {conn.pid})"
    return None

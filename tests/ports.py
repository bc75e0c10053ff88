"""Free TCP ports for tests: picked by the OS, distinct within one call."""

from __future__ import annotations

import socket


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports that were free on `host` a moment ago (all held at once while
    picking, so two of them can never be the same)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((host, 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port(host: str = "127.0.0.1") -> int:
    """One port that was free on `host` a moment ago."""
    return free_ports(1, host)[0]


def free_port_everywhere(hosts: list[str]) -> int:
    """A port that was free on every one of `hosts` a moment ago."""
    for _attempt in range(20):
        port = free_port(hosts[0])
        sockets: list[socket.socket] = []
        try:
            for host in hosts:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise AssertionError(f"no port free on all of {hosts}")

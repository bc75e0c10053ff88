"""The one host-port check (`neodev.ports`) with plain sockets, no Docker: which addresses a
plan claims, free / ours / taken (the holder named) / unusable, TIME_WAIT leftovers, UDP apart
from TCP, and a holder found on the address asked about."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from neodev.config.model import ContainerSpec, EnvironmentPlan, PortMapping, ProcessSpec
from neodev.ports import PortClaim, PortVerdict, can_bind, check_claims, plan_claims, port_holder
from tests.ports import free_port

UNROUTABLE = "192.0.2.1"
"""TEST-NET-1 (RFC 5737): never an address of this machine."""


@contextlib.contextmanager
def listening(host: str = "127.0.0.1", port: int = 0,
              kind: int = socket.SOCK_STREAM) -> Iterator[int]:
    """A socket holding host:port (listening for TCP, bound for UDP); yields the port."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((host, port))
        if kind == socket.SOCK_STREAM:
            sock.listen()
        yield int(sock.getsockname()[1])


def claim(port: int, host: str = "127.0.0.1", protocol: str = "tcp") -> PortClaim:
    return PortClaim("api", host, port, protocol)


def test_a_port_nobody_holds_is_free_and_a_listening_one_is_not() -> None:
    port = free_port()
    assert can_bind("127.0.0.1", port)
    with listening(port=port):
        assert not can_bind("127.0.0.1", port)
        # on every address of the port: a listener on the loopback blocks the wildcard too
        assert not can_bind("0.0.0.0", port)
    assert can_bind("127.0.0.1", port)


def test_udp_and_tcp_ports_are_separate() -> None:
    with listening(kind=socket.SOCK_DGRAM) as port:
        assert not can_bind("127.0.0.1", port, "udp")
        assert can_bind("127.0.0.1", port, "tcp")
    with listening() as port:
        assert can_bind("127.0.0.1", port, "udp")


def test_a_connection_left_in_time_wait_does_not_hold_the_port() -> None:
    with socket.socket() as server:
        # As servers set it (Postgres, uvicorn, Node): Linux lets a port in TIME_WAIT be bound
        # again only when both the old and the new socket asked for SO_REUSEADDR.
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = server.accept()
            accepted.close()  # the server side closes first: it is the one in TIME_WAIT
            client.recv(1)
    assert can_bind("127.0.0.1", port)  # a restarted app could listen there again


def test_an_address_that_is_not_on_this_machine_is_unusable_not_taken() -> None:
    with pytest.raises(OSError):
        can_bind(UNROUTABLE, free_port())
    [verdict] = check_claims([claim(free_port(), UNROUTABLE)], {}, "shop")
    assert verdict.status == "unusable" and not verdict.ok
    assert verdict.detail and "cannot listen on 192.0.2.1" in verdict.problem
    assert verdict.hint.startswith("use 127.0.0.1")


def test_a_taken_port_names_the_process_holding_it_and_ours_is_not_a_conflict() -> None:
    with listening() as port:
        [taken] = check_claims([claim(port)], {}, "shop")
        assert taken.status == "taken" and not taken.ok
        assert taken.owner is not None and f"(pid {os.getpid()})" in taken.owner
        assert taken.message == (f"127.0.0.1:{port}/tcp (api): already in use by "
                                 f"{taken.owner}. Stop it, or change `port` of "
                                 "[processes.api] in the profile.")
        # the same listener in one of the environment's own process groups: ours
        [ours] = check_claims([claim(port)], {}, "shop", own_groups={os.getpgid(0)})
        assert ours.status == "ours" and ours.ok and f"(pid {os.getpid()})" in str(ours.owner)
    [free] = check_claims([claim(port)], {}, "shop")
    assert (free.status, free.ok, free.hint) == ("free", True, "")


def test_a_port_a_container_publishes_is_ours_only_for_our_project() -> None:
    port = free_port()
    published = {(port, "tcp"): ("shop-db-1", "shop")}
    container = PortClaim("db", "127.0.0.1", port, "tcp", container_port=5432)
    [ours] = check_claims([container], published, "shop")
    assert (ours.status, ours.owner) == ("ours", "container shop-db-1")
    [taken] = check_claims([container], published, "other")
    assert (taken.status, taken.owner) == ("taken", "container shop-db-1 of project shop")
    assert taken.hint == "stop it, or change the published port in the compose file"
    # another protocol on the same number is not that container's
    [udp] = check_claims([PortClaim("db", "127.0.0.1", port, "udp", 5432)], published, "x")
    assert udp.status == "free"


def test_the_holder_on_the_address_asked_about_is_named_first() -> None:
    with listening("127.0.0.1") as port:  # and another process on 127.0.0.2 (Linux: lo is /8)
        other = subprocess.Popen(
            [sys.executable, "-c", "import socket, sys, time\n"
             f"s = socket.socket(); s.bind(('127.0.0.2', {port})); s.listen()\n"
             "print('up', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
        try:
            assert other.stdout is not None and other.stdout.readline() == "up\n"
            assert port_holder(port, "tcp", "127.0.0.2")[0] == other.pid
            assert port_holder(port, "tcp", "127.0.0.1")[0] == os.getpid()
            [verdict] = check_claims([claim(port, "127.0.0.2")], {}, "shop")
            assert verdict.status == "taken" and f"(pid {other.pid})" in str(verdict.owner)
        finally:
            other.kill()
            other.wait(10)
            if other.stdout is not None:
                other.stdout.close()
    assert port_holder(port, "tcp") == (None, None)


def test_a_plan_claims_every_address_its_units_bind() -> None:
    root = Path("/w")
    db = ContainerSpec(name="db", service="db", image="postgres:18", ports=(
        PortMapping(container_port=5432, host_port=5432),
        PortMapping(container_port=9187, host_port=None),  # Docker picks: nothing to check
        PortMapping(container_port=514, host_port=1514, host_ip="0.0.0.0", protocol="udp")))
    api = ProcessSpec(name="api", cwd=root, command=("./run",), port=8080)
    job = ProcessSpec(name="job", cwd=root, command=("./job",))  # listens on nothing
    plan = EnvironmentPlan(profile="local", project="shop", workspace=root,
                           profile_file=root / "profiles/local.toml", network="shop_default",
                           containers={"db": db}, processes={"api": api, "job": job})
    hosts = ["127.0.0.1", "172.17.0.1"]
    assert [c.label for c in plan_claims(plan, process_hosts=hosts)] == [
        "127.0.0.1:5432/tcp (db)", "0.0.0.0:1514/udp (db)",
        "127.0.0.1:8080/tcp (api)", "172.17.0.1:8080/tcp (api)"]
    assert [c.label for c in plan_claims(plan, ["api"], process_hosts=hosts)] == [
        "127.0.0.1:8080/tcp (api)", "172.17.0.1:8080/tcp (api)"]
    assert plan_claims(plan, ["db"], hosts)[0].container_port == 5432


def test_verdict_wording() -> None:
    verdict = PortVerdict(claim(5432), "taken")
    assert verdict.problem == "127.0.0.1:5432/tcp (api): already in use by another program"

"""A container removed between Docker's list and its inspect is not an error, nor one stopped
before it is asked something.

The docker SDK lists containers in one request and inspects each in another; whatever removes a
container in between (another test run's cleanup, another project's `down`, a developer) makes
the inspect answer 404. Lists over the whole engine, or over every test run, must take that as
"gone" — found when two pytest runs of the plugin ran at once: the second's janitor failed its
first fixture. Here the SDK is real and its engine is scripted: of three listed containers, the
middle one is gone by the time it is inspected, and the others have stopped by the time a
`docker exec` reaches them (the engine answers 409).
"""

from __future__ import annotations

import socket
from typing import Any

import docker
import pytest
from docker.errors import APIError, NotFound

from neodev import inventory
from neodev.docker.client import ClientFactory
from neodev.docker.labels import (
    NEODEV_INSTANCE,
    NEODEV_WORKSPACE,
    PYTEST,
    PYTEST_OWNER_HOST,
    PYTEST_OWNER_PID,
    PYTEST_OWNER_STARTED,
)
from neodev.docker.project import DockerProject
from neodev.doctor import _published_ports
from neodev.testing import janitor

LISTED = ("aaa", "gone", "ccc")


def racing_engine() -> tuple[docker.DockerClient, list[str]]:
    """A client whose engine lists LISTED, then answers 404 for `gone`; and what it removed."""
    client = docker.DockerClient(base_url="unix:///nonexistent/docker.sock", version="1.41")
    removed: list[str] = []

    def inspect(container: str) -> dict[str, Any]:
        if container == "gone":
            raise NotFound(f"No such container: {container}")
        return {"Id": container, "Name": f"/{container}",
                "State": {"Status": "running"},
                "Config": {"Labels": {PYTEST: "1", PYTEST_OWNER_PID: "4194999",
                                      PYTEST_OWNER_STARTED: "0",
                                      PYTEST_OWNER_HOST: socket.gethostname(),
                                      NEODEV_INSTANCE: "other", NEODEV_WORKSPACE: "/w/other"},
                           "Env": ["POSTGRES_PASSWORD=pw"]},
                "NetworkSettings": {"Ports": {"5432/tcp": [{
                    "HostIp": "127.0.0.1", "HostPort": str(1000 + LISTED.index(container))}]}}}

    api: Any = client.api
    api.containers = lambda **_: [{"Id": name} for name in LISTED]
    api.inspect_container = inspect
    api.remove_container = lambda container, **_: removed.append(container)
    api.exec_create = stopped_meanwhile
    api.volumes = lambda **_: {"Volumes": []}
    api.networks = lambda **_: []
    return client, removed


def stopped_meanwhile(container: str, *_: Any, **__: Any) -> None:
    raise APIError(f"Container {container} is not running",
                   response=_conflict(), explanation=f"Container {container} is not running")


def _conflict() -> Any:
    import requests

    response = requests.Response()
    response.status_code = 409
    return response


def test_the_janitor_removes_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(janitor, "stale_run_directories", lambda alive: [])  # none of ours
    client, removed = racing_engine()
    gone = janitor.remove_leftovers(client, alive=lambda pid, started: pid != 4194999)
    assert removed == ["aaa", "ccc"]
    assert gone == ["container aaa", "container ccc"]


async def test_the_ports_in_use_are_those_of_the_others() -> None:
    client, _ = racing_engine()
    project = DockerProject("p", ClientFactory(connect=lambda: client))
    assert set((await project.host_ports_in_use()).values()) == {("aaa", ""), ("ccc", "")}


def test_doctor_lists_the_ports_of_the_others() -> None:
    client, _ = racing_engine()
    assert {name for name, _ in _published_ports(client).values()} == {"aaa", "ccc"}


def test_the_instances_listing_counts_the_others_and_asks_no_size_of_a_stopped_server() -> None:
    client, _ = racing_engine()
    found = inventory._on_engine(client)
    assert [c.name for c in found[("other", "/w/other")].containers] == ["aaa", "ccc"]
    assert inventory.database_bytes(client.containers.get("aaa")) is None

"""The adapter to testcontainers: `start()` creates the container with exactly the arguments
`create_args` made — ports bound on 127.0.0.1, binds, throwaway mounts, labels, network and
healthcheck — which `with_bind_ports` alone could not do. Docker is replaced by a recorder of
the `create` call (testcontainers' own client class), so no engine is needed."""

from __future__ import annotations

import socket
import threading
import types
from typing import Any

import pytest
import testcontainers.core.container as tc_container
from testcontainers.core.wait_strategies import (
    CompositeWaitStrategy,
    ContainerStatusWaitStrategy,
    HealthcheckWaitStrategy,
)

from neodev.config.model import ContainerSpec, HealthcheckSpec, PortMapping, VolumeMount
from neodev.docker.create_args import CreateOptions, create_args
from neodev.testing.containers import answers_ssl_request, readiness, to_testcontainer


class RecordingClient:
    """Stands in for testcontainers' DockerClient: records create(), starts nothing."""

    created: list[dict[str, Any]] = []

    def __init__(self, **_: Any) -> None:
        self.client = self

    def create(self, image: str, **kwargs: Any) -> object:
        RecordingClient.created.append({"image": image, **kwargs})
        return types.SimpleNamespace(short_id="0123456789ab")

    def start(self, container: object) -> None:
        pass

    def close(self) -> None:
        pass


class Ready:
    def wait_until_ready(self, container: object) -> None:
        pass


def test_start_creates_the_container_with_the_translated_arguments(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tc_container, "DockerClient", RecordingClient)
    monkeypatch.setattr(tc_container.c, "ryuk_disabled", True)
    RecordingClient.created.clear()
    spec = ContainerSpec(
        name="prometheus", service="prometheus", image="neodev-test/prometheus:2.42",
        command=("--config.file=/etc/prometheus/prometheus.yml",),
        environment={"A": "1"},
        ports=(PortMapping(container_port=9090, host_port=9090),),
        volumes=(VolumeMount(type="bind", source="/ws/compose/prometheus.yml",
                             target="/etc/prometheus/prometheus.yml", read_only=True),
                 VolumeMount(type="volume", source="neotool_prometheus-data",
                             target="/prometheus")),
        healthcheck=HealthcheckSpec(test=("CMD", "true"), interval=5, timeout=5, retries=12),
        extra_hosts={"host.docker.internal": "host-gateway"})
    labels = {"dev.neodev.pytest.session": "abc"}
    args = create_args(spec, "neotool-pytest-abc", "neotool-pytest-abc_default", "hash",
                       CreateOptions(name="neotool-pytest-abc-prometheus-1",
                                     random_loopback_ports=True, throwaway_volumes="anonymous",
                                     labels=labels, max_health_interval=0.5))
    args["networking_config"] = {"neotool-pytest-abc_default": {"Aliases": ["prometheus"]}}
    # The compose healthcheck is the wait strategy; without one, "running" is.
    assert isinstance(readiness(args, 30), HealthcheckWaitStrategy)
    assert isinstance(readiness({**args, "healthcheck": None}, 30), ContainerStatusWaitStrategy)
    to_testcontainer(args, startup_timeout=30).waiting_for(Ready()).start()

    (created,) = RecordingClient.created
    assert created["image"] == "neodev-test/prometheus:2.42"
    assert created["name"] == "neotool-pytest-abc-prometheus-1"
    assert created["command"] == ["--config.file=/etc/prometheus/prometheus.yml"]
    assert created["environment"] == {"A": "1"}
    assert created["ports"] == {"9090/tcp": ("127.0.0.1", None)}
    assert created["volumes"] == {"/ws/compose/prometheus.yml": {
        "bind": "/etc/prometheus/prometheus.yml", "mode": "ro"}}
    assert created["mounts"] == [{"Type": "volume", "Target": "/prometheus", "ReadOnly": False,
                                  "VolumeOptions": {"Labels": labels}}]
    assert created["network"] == "neotool-pytest-abc_default"
    assert created["networking_config"] == args["networking_config"]
    assert created["labels"]["dev.neodev.pytest.session"] == "abc"
    assert created["healthcheck"]["interval"] == 500_000_000
    assert created["restart_policy"] == {"Name": "no"}
    assert created["extra_hosts"] == {"host.docker.internal": "host-gateway"}


def test_tmpfs_goes_where_testcontainers_keeps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tc_container, "DockerClient", RecordingClient)
    monkeypatch.setattr(tc_container.c, "ryuk_disabled", True)
    RecordingClient.created.clear()
    args = {"image": "x", "ports": {}, "volumes": [], "tmpfs": {"/var/lib/postgresql": ""}}
    to_testcontainer(args, startup_timeout=1).waiting_for(Ready()).start()
    assert RecordingClient.created[0]["tmpfs"] == {"/var/lib/postgresql": ""}


def test_a_source_mounted_twice_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tc_container, "DockerClient", RecordingClient)
    args = {"image": "x", "volumes": ["/a:/one:ro", "/a:/two:ro"], "ports": {}}
    with pytest.raises(ValueError, match="/a is mounted twice"):
        to_testcontainer(args, startup_timeout=1)


def _server(reply: bytes) -> tuple[socket.socket, threading.Thread]:
    """A one-connection TCP server on 127.0.0.1 that reads 8 bytes and sends `reply`."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(8)
            if reply:
                conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


@pytest.mark.parametrize(("reply", "ready"), [(b"N", True), (b"S", True), (b"", False)])
def test_postgres_must_answer_the_ssl_request(reply: bytes, ready: bool) -> None:
    # b"": what Docker's port proxy does while nothing listens in the container.
    listener, thread = _server(reply)
    with listener:
        assert answers_ssl_request("127.0.0.1", listener.getsockname()[1]) is ready
        thread.join(timeout=5)


def test_nothing_listening_is_not_ready() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    assert answers_ssl_request("127.0.0.1", port) is False


def test_postgres_readiness_adds_the_host_check_to_the_healthcheck() -> None:
    strategy = readiness({"healthcheck": {"test": ["CMD", "true"]}}, 30, postgres_port=5432)
    assert isinstance(strategy, CompositeWaitStrategy)

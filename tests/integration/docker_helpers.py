"""Helpers for the container-driver tests: specs on the local test images, bounded waits."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid

import docker
from docker.errors import ImageNotFound

from neodev.config.model import ContainerSpec, HealthcheckSpec, PortMapping, VolumeMount
from neodev.engine.runner import Runner
from neodev.protocol import Health
from tests.constants import BUILD_IMAGES_HINT, TEST_LABELS
from tests.constants import TEST_POSTGRES_IMAGE as POSTGRES_IMAGE
from tests.constants import TEST_PROMETHEUS_IMAGE as PROMETHEUS_IMAGE
from tests.waiting import until, until_async

__all__ = ["POSTGRES_IMAGE", "PROMETHEUS_IMAGE", "TEST_LABELS"]


def unique_project() -> str:
    return f"ndtest{uuid.uuid4().hex[:8]}"


def postgres_spec(project: str, **overrides: object) -> ContainerSpec:
    """Postgres as the local profile runs it: pg_isready healthcheck, named volume, 127.0.0.1."""
    fields: dict[str, object] = {
        "name": "postgres", "service": "postgres", "image": POSTGRES_IMAGE,
        "image_variable": "NEODEV_POSTGRES_IMAGE",
        "environment": {"POSTGRES_PASSWORD": "test-pw", "POSTGRES_DB": "neotool_dev"},
        "ports": (PortMapping(container_port=5432, host_port=None),),
        "volumes": (VolumeMount(type="volume", source=f"{project}_pgdata",
                                target="/var/lib/postgresql"),),
        "healthcheck": HealthcheckSpec(
            test=("CMD-SHELL", "pg_isready -U postgres -d neotool_dev -h 127.0.0.1"),
            interval=0.5, timeout=3.0, retries=60),
        "labels": TEST_LABELS,
        "stop_grace": 10.0,
    }
    fields.update(overrides)
    return ContainerSpec(**fields)  # type: ignore[arg-type]


class Collector:
    """A LogSink that keeps every (line, stream, ts) it receives."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, float]] = []

    def __call__(self, line: str, stream: str, ts: float) -> None:
        self.lines.append((line, stream, ts))

    def matching(self, text: str) -> list[tuple[str, str, float]]:
        return [entry for entry in self.lines if text in entry[0]]


async def wait_healthy(runner: Runner, timeout: float = 60.0) -> None:
    """Until the runner reports healthy (the last report is in the failure message)."""
    await until_async(runner.health, f"{runner.name} healthy", timeout,
                      ok=lambda report: report.health == Health.HEALTHY, interval=0.2)


def project_containers(client: docker.DockerClient, project: str) -> list[tuple[str, str, str]]:
    """(name, compose service, status) of every container of a compose project, by label."""
    found = client.containers.list(all=True,
                                   filters={"label": [f"com.docker.compose.project={project}"]})
    return [(c.name, c.labels.get("com.docker.compose.service", ""), c.status) for c in found]


def require_images(client: docker.DockerClient, *names: str, timeout: float = 900.0) -> None:
    """Wait (bounded) for the teammate-built test images; fail (never skip) when absent."""
    until(lambda: [n for n in names if not _has_image(client, n)],
          f"the test images (build them: {BUILD_IMAGES_HINT})", timeout,
          ok=lambda missing: not missing, interval=5)


def _has_image(client: docker.DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
    except ImageNotFound:
        return False
    return True


class EngineProxy:
    """A Unix-socket proxy in front of the real engine socket, to make the engine "go away".

    Stopping it closes the listener and every open connection, which is what a client sees when
    dockerd dies mid-run; starting it again is the engine coming back. Threads only, bounded.
    """

    def __init__(self, path: str, upstream: str = "/var/run/docker.sock") -> None:
        self.path = path
        self.upstream = upstream
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(self.path)
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)
            server.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # listener closed: the proxy was stopped
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.upstream)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass  # one side closed: the other is shut down below
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

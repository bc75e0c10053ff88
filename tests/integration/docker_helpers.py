"""Helpers for the container-driver tests: specs on the local test images, bounded waits."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import docker
from docker.errors import ImageNotFound

from neodev.config.model import ContainerSpec, HealthcheckSpec, PortMapping, VolumeMount
from neodev.engine.events import Health
from neodev.engine.runner import Runner
from tests.constants import BUILD_IMAGES_HINT, TEST_LABELS
from tests.constants import TEST_POSTGRES_IMAGE as POSTGRES_IMAGE
from tests.constants import TEST_PROMETHEUS_IMAGE as PROMETHEUS_IMAGE

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


async def wait_for(predicate: Callable[[], bool | Awaitable[bool]], timeout: float,
                   what: str, interval: float = 0.2) -> None:
    """Poll predicate until true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def wait_healthy(runner: Runner, timeout: float = 60.0) -> None:
    last = None

    async def healthy() -> bool:
        nonlocal last
        last = await runner.health()
        return last.health == Health.HEALTHY

    try:
        await wait_for(healthy, timeout, f"{runner.name} healthy")
    except AssertionError as e:
        raise AssertionError(f"{e}; last report {last}; logs: {runner.recent_logs(20)}") from e


def require_images(client: docker.DockerClient, *names: str, timeout: float = 900.0) -> None:
    """Wait (bounded) for the teammate-built test images; fail (never skip) when absent."""
    deadline = time.monotonic() + timeout
    missing = list(names)
    while True:
        missing = [n for n in missing if not _has_image(client, n)]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert not missing, f"test images missing: {missing} (build them: {BUILD_IMAGES_HINT})"


def _has_image(client: docker.DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
    except ImageNotFound:
        return False
    return True

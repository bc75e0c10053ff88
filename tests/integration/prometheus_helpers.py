"""Real Prometheus (the local test image) run as the shipped compose file runs it, and a tiny
metrics endpoint on the host for it to scrape.

`shipped_prometheus` starts the container from neodev's own reading of
compose/docker-compose.local.yml (command, config mount, extra_hosts), with the targets
directory pointed at a test directory and the port published on a random 127.0.0.1 port.
`MetricsServer` serves Prometheus text on every address `neodev.hostnet.bind_hosts()`
gives (loopback + the docker0 gateway), as a neodev-started process would.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import docker
import httpx

from neodev.config.loader import load_plan
from neodev.hostnet import bind_hosts
from neodev.telemetry.targets import TARGETS_MOUNT
from tests.constants import REPO_ROOT, TEST_LABELS, TEST_PROMETHEUS_IMAGE
from tests.integration.docker_helpers import require_images
from tests.ports import free_port
from tests.waiting import until

PROMETHEUS_PORT = 9090


class Prometheus:
    """A running Prometheus container and its HTTP API on 127.0.0.1."""

    def __init__(self, container: Any, url: str) -> None:
        self.container = container
        self.url = url
        self.http = httpx.Client(base_url=url, trust_env=False, timeout=5.0)

    def active_targets(self) -> list[dict[str, Any]]:
        data = self.http.get("/api/v1/targets", params={"state": "active"}).json()
        return list(data["data"]["activeTargets"])

    def targets_of(self, unit: str) -> list[dict[str, Any]]:
        return [t for t in self.active_targets() if t["labels"].get("unit") == unit]

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = self.http.get("/api/v1/query", params={"query": expr}).json()
        assert answer["status"] == "success", (expr, answer)
        return list(answer["data"]["result"])

    def started_at(self) -> tuple[str, int]:
        self.container.reload()
        return self.container.attrs["State"]["StartedAt"], self.container.attrs["RestartCount"]


@contextlib.contextmanager
def shipped_prometheus(client: docker.DockerClient, targets: Path) -> Iterator[Prometheus]:
    """Prometheus with the shipped compose settings, reading file_sd targets from `targets`."""
    require_images(client, TEST_PROMETHEUS_IMAGE)
    plan = load_plan(REPO_ROOT, "local", {"POSTGRES_PASSWORD": "x", "GRAFANA_ADMIN_PASSWORD": "y",
                                          "NEODEV_PROMETHEUS_IMAGE": TEST_PROMETHEUS_IMAGE})
    spec = plan.containers["prometheus"]
    binds = []
    for mount in spec.volumes:
        if mount.type != "bind":
            continue  # the data volume: the image's anonymous one is enough for a test
        source = str(targets) if mount.target == TARGETS_MOUNT else mount.source
        binds.append(f"{source}:{mount.target}:{'ro' if mount.read_only else 'rw'}")
    assert any(b.endswith(f":{TARGETS_MOUNT}:ro") for b in binds), binds
    container = client.containers.run(
        spec.image, command=list(spec.command or ()), volumes=binds,
        extra_hosts=dict(spec.extra_hosts), labels=TEST_LABELS, detach=True,
        ports={f"{PROMETHEUS_PORT}/tcp": ("127.0.0.1", None)})
    try:
        container.reload()
        host_port = container.attrs["NetworkSettings"]["Ports"][f"{PROMETHEUS_PORT}/tcp"][0][
            "HostPort"]
        prometheus = Prometheus(container, f"http://127.0.0.1:{host_port}")
        until(lambda: prometheus.http.get("/-/ready").status_code, "Prometheus /-/ready", 60,
              ok=lambda status: status == 200, retry_on=(httpx.HTTPError,), interval=0.2)
        yield prometheus
        prometheus.http.close()
    finally:
        container.remove(force=True, v=True)


class _MetricsHandler(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        found = self.path.split("?")[0] == "/metrics"
        data = self.body if found else b"not found\n"
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


class MetricsServer:
    """Prometheus text on /metrics, one listener per `bind_hosts()` address, same port each."""

    def __init__(self, text: str) -> None:
        handler = type("Handler", (_MetricsHandler,), {"body": text.encode()})
        self.hosts = bind_hosts()
        servers: list[ThreadingHTTPServer] = []
        for _attempt in range(20):  # a port free on loopback may be taken on the gateway
            port = free_port()
            try:
                for host in self.hosts:
                    servers.append(ThreadingHTTPServer((host, port), handler))
                break
            except OSError:
                for server in servers:  # not serving yet: close only (shutdown would block)
                    server.server_close()
                servers = []
        assert servers, f"no port free on all of {self.hosts}"
        self.port = port
        self._servers = servers
        self._threads = [threading.Thread(target=s.serve_forever, args=(0.05,), daemon=True)
                         for s in servers]
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)


def promtool(client: docker.DockerClient, directory: Path, command: list[str],
             entrypoint: str = "promtool") -> tuple[int, str]:
    """Run a command of the test image (promtool by default) on files mounted at /work."""
    directory.chmod(0o755)  # the image runs as nobody
    for path in directory.iterdir():
        path.chmod(0o644)
    container = client.containers.run(TEST_PROMETHEUS_IMAGE, entrypoint=[entrypoint],
                                      command=command, volumes=[f"{directory}:/work:ro"],
                                      labels=TEST_LABELS, detach=True)
    try:
        code = int(container.wait(timeout=60)["StatusCode"])
        return code, container.logs().decode(errors="replace")
    finally:
        container.remove(force=True, v=True)  # and the image's anonymous /prometheus volume

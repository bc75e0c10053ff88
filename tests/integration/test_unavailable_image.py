"""An optional unit whose image cannot be had, through the real CLI, daemon and engine.

The image is a real lookup on the real engine, its registry on a closed port (so the pull
fails at once, as without a registry). The unit is `unavailable` — once, no crash loop, no
retry — and the process that needs it says it is skipped and why. Then the image appears (the
test tags a local image with its name): the unit is found within the daemon's look-up pace
and starts, and what it held back follows.
"""

from __future__ import annotations

import contextlib
import json
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.constants import TEST_PROMETHEUS_IMAGE
from tests.integration.docker_helpers import require_images
from tests.integration.stack_workspace import CLI_POLL, NeodevCLI, StackWorkspace
from tests.ports import free_port
from tests.waiting import until

pytestmark = pytest.mark.docker


@pytest.fixture
def ghost(tmp_path: Path, docker_client: docker.DockerClient
          ) -> Iterator[tuple[NeodevCLI, str, docker.DockerClient]]:
    require_images(docker_client, TEST_PROMETHEUS_IMAGE)
    root = tmp_path / "ws"
    (root / "profiles").mkdir(parents=True)
    (root / "compose").mkdir()
    image = f"127.0.0.1:9/neodev-test/ghost-{uuid.uuid4().hex[:8]}:1"
    project = f"ndghost{free_port()}"
    (root / "compose" / "ghost.yml").write_text(f"services:\n  ghost:\n    image: {image}\n")
    (root / "profiles" / "local.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "{project}"
        compose = ["../compose/ghost.yml"]

        [services.ghost]
        optional = true
        restart = "always"

        [processes.dash]
        cwd = "{root}"
        command = ["sleep", "120"]
        depends_on = {{ ghost = "started" }}
        optional = true
        """))
    cli = NeodevCLI(StackWorkspace(root=root, project=project, ports={}))
    try:
        yield cli, image, docker_client
    finally:
        cli.cleanup()
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(image)  # the tag this test made, not the image


def unit(cli: NeodevCLI, name: str) -> dict[str, Any]:
    status = json.loads(cli("status", "--json").out)
    return next(u for u in status["units"] if u["name"] == name)


def steps(cli: NeodevCLI, name: str) -> list[str]:
    from neodev.client import DaemonClient, calls

    with DaemonClient(cli.ws.root / ".neodev" / "daemon.sock") as client:
        return [entry.what for entry in client.call(calls.unit(name)).timeline]


def test_an_image_that_cannot_be_had_is_unavailable_until_it_appears(
        ghost: tuple[NeodevCLI, str, docker.DockerClient]) -> None:
    cli, image, client = ghost
    started = cli("start", "--wait", "--timeout", "30")
    assert started.code == 0, started.out + started.err  # both optional
    assert "skip ghost: unavailable" in started.out and "[image_missing]" not in started.out
    record = unit(cli, "ghost")
    assert record["state"] == "unavailable" and record["unavailable"] == f"image {image}"
    assert (record["restarts"], record["failures"], record["crash_loop"]) == (0, 0, False)
    assert record["problem"].startswith(f"unavailable: Image {image!r} is not available")
    dash = unit(cli, "dash")
    assert dash["state"] == "pending" and dash["skipped_by"] == "ghost" and not dash["problem"]
    status = cli("status").out
    assert f"  ghost: unavailable: Image {image!r}" in status
    assert f"  dash: skipped: ghost is unavailable (image {image}); starts when it can" in status
    assert "crash" not in status and "backoff" not in status

    time.sleep(7)  # a restart policy of "always" would have tried again several times
    assert steps(cli, "ghost").count("starting") == 1
    assert unit(cli, "ghost")["state"] == "unavailable"

    client.images.get(TEST_PROMETHEUS_IMAGE).tag(*image.rsplit(":", 1))  # the image appears
    until(lambda: unit(cli, "ghost"), "ghost running", 30,
          ok=lambda ghost: ghost["state"] == "running", interval=CLI_POLL)
    assert "available" in steps(cli, "ghost")
    until(lambda: unit(cli, "dash"), "dash running", 30,
          ok=lambda dash: dash["state"] == "running", interval=CLI_POLL)
    ghost_now = unit(cli, "ghost")
    assert ghost_now["restarts"] == 0 and ghost_now["unavailable"] == ""
    assert unit(cli, "dash")["skipped_by"] == ""

"""`neodev doctor` against the real engine, real images and real listening sockets."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import psutil
import pytest

from neodev.config.model import ContainerSpec, EnvironmentPlan, PortMapping, ProcessSpec
from neodev.doctor import Check, exit_code, format_checks, run_checks
from neodev.hostnet import bind_hosts, docker_gateway_ip
from neodev.paths import WorkspacePaths
from tests.constants import REPO_ROOT, TEST_LABELS, TEST_POSTGRES_IMAGE, TEST_PROMETHEUS_IMAGE

pytestmark = pytest.mark.docker


def make_plan(workspace: Path, *, project: str = "doctortest",
              containers: tuple[ContainerSpec, ...] = (),
              processes: tuple[ProcessSpec, ...] = ()) -> EnvironmentPlan:
    return EnvironmentPlan(
        profile="local", project=project, workspace=workspace,
        profile_file=workspace / "profiles" / "local.toml", network=f"{project}_default",
        containers={c.name: c for c in containers}, processes={p.name: p for p in processes})


def container(name: str, image: str = TEST_POSTGRES_IMAGE, host_port: int | None = None,
              variable: str | None = "NEODEV_POSTGRES_IMAGE") -> ContainerSpec:
    ports = () if host_port is None else (PortMapping(container_port=5432, host_port=host_port),)
    return ContainerSpec(name=name, service=name, image=image, image_variable=variable,
                         ports=ports)


def process(name: str, cwd: Path, port: int | None = None) -> ProcessSpec:
    return ProcessSpec(name=name, cwd=cwd, command=("true",), port=port)


def only(checks: list[Check], name: str, contains: str = "") -> Check:
    found = [c for c in checks if c.name == name and contains in c.detail]
    assert len(found) == 1, format_checks(checks)
    return found[0]


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP listener of this very process on 127.0.0.1, closed after the test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_engine_reachable_reports_version_api_and_endpoint(
        docker_client: docker.DockerClient, tmp_path: Path) -> None:
    checks = run_checks(None, WorkspacePaths(tmp_path), dict(os.environ))
    engine = only(checks, "docker")
    version = docker_client.version()
    assert engine.status == "ok"
    assert f"Docker Engine {version['Version']} (API {version['ApiVersion']})" in engine.detail
    assert " at " in engine.detail
    line = format_checks([engine])
    assert line.startswith(f"ok    docker     Docker Engine {version['Version']}")


def test_docker_host_pointing_at_a_dead_socket_fails(tmp_path: Path) -> None:
    dead = f"unix://{tmp_path}/no-engine-here.sock"
    env = {**os.environ, "DOCKER_HOST": dead}
    plan = make_plan(tmp_path, containers=(container("postgres"),))
    checks = run_checks(plan, WorkspacePaths(tmp_path), env)
    engine = only(checks, "docker")
    assert engine.status == "fail"
    assert dead in engine.detail and "DOCKER_HOST" in engine.detail
    assert "DOCKER_HOST" in engine.hint
    assert only(checks, "image").status == "warn"  # not checked, said so
    assert exit_code(checks) == 1


def test_docker_host_socket_without_an_engine_fails(tmp_path: Path) -> None:
    # The socket file exists but nothing accepts on it: docker-py raises while connecting.
    path = tmp_path / "silent.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
        checks = run_checks(None, WorkspacePaths(tmp_path),
                            {**os.environ, "DOCKER_HOST": f"unix://{path}"})
    engine = only(checks, "docker")
    assert engine.status == "fail" and "no Docker engine answers at" in engine.detail
    assert exit_code(checks) == 1


def test_images_present_and_absent(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    docker_client.images.get(TEST_POSTGRES_IMAGE)  # built by tests/images/build.sh
    absent = f"neodev-test/absent-{uuid.uuid4().hex[:8]}:1"
    plan = make_plan(tmp_path, containers=(
        container("postgres"), container("loki", image=absent, variable="NEODEV_LOKI_IMAGE")))
    checks = run_checks(plan, WorkspacePaths(tmp_path), dict(os.environ))
    present = only(checks, "image", TEST_POSTGRES_IMAGE)
    assert present.status == "ok"
    missing = only(checks, "image", absent)
    assert missing.status == "warn"
    assert missing.detail == f"would be pulled: {absent} (override with NEODEV_LOKI_IMAGE)"
    assert "NEODEV_LOKI_IMAGE" in missing.hint
    assert exit_code(checks) == 0  # a missing image is a warning: it would be pulled


def test_busy_port_names_this_process_and_its_pid(listener: int, free_port: int,
                                                  tmp_path: Path) -> None:
    plan = make_plan(tmp_path,
                     containers=(container("postgres", host_port=listener),),
                     processes=(process("backend", tmp_path, port=free_port),))
    checks = run_checks(plan, WorkspacePaths(tmp_path), dict(os.environ))
    busy = only(checks, "port", f":{listener}/")
    assert busy.status == "fail", format_checks(checks)
    assert f"(pid {os.getpid()})" in busy.detail
    assert busy.detail.endswith(f"in use by {psutil.Process().name()} (pid {os.getpid()})")
    free = only(checks, "port", f"127.0.0.1:{free_port}/")
    assert free.status == "ok" and "free" in free.detail
    assert exit_code(checks) == 1


def test_process_port_held_by_a_listener_fails(listener: int, tmp_path: Path) -> None:
    plan = make_plan(tmp_path, processes=(process("backend", tmp_path, port=listener),))
    checks = run_checks(plan, WorkspacePaths(tmp_path), dict(os.environ))
    busy = only(checks, "port", f"127.0.0.1:{listener}/")
    assert busy.status == "fail"
    assert f"pid {os.getpid()}" in busy.detail and "backend" in busy.detail
    assert "[processes.backend]" in busy.hint


def test_process_port_held_on_the_bridge_address_fails(tmp_path: Path) -> None:
    # A process listens on loopback and on the Docker bridge gateway (hostnet.py): a port
    # held on the gateway address alone is as much a conflict as one held on loopback.
    gateway = docker_gateway_ip()
    assert gateway, "the test engine's docker0 bridge has no IPv4 address"
    with socket.socket() as held:
        held.bind((gateway, 0))
        held.listen()
        port = held.getsockname()[1]
        plan = make_plan(tmp_path, processes=(process("backend", tmp_path, port=port),))
        checks = run_checks(plan, WorkspacePaths(tmp_path), dict(os.environ))
    assert only(checks, "port", f"127.0.0.1:{port}/").status == "ok"
    busy = only(checks, "port", f"{gateway}:{port}/")
    assert busy.status == "fail" and f"pid {os.getpid()}" in busy.detail


def test_port_of_our_own_container_is_ok_and_of_another_project_fails(
        docker_client: docker.DockerClient, free_port: int, unique_name: str,
        tmp_path: Path) -> None:
    project = unique_name.replace("-", "")
    labels = {**TEST_LABELS, "com.docker.compose.project": project}
    running = docker_client.containers.run(
        TEST_POSTGRES_IMAGE, ["sleep", "300"], detach=True, name=unique_name, labels=labels,
        ports={"5432/tcp": ("127.0.0.1", free_port)})
    try:
        spec = container("postgres", host_port=free_port)
        ours = run_checks(make_plan(tmp_path, project=project, containers=(spec,)),
                          WorkspacePaths(tmp_path), dict(os.environ))
        check = only(ours, "port", f":{free_port}/")
        assert check.status == "ok"
        assert f"neodev's own container {unique_name}" in check.detail

        theirs = run_checks(make_plan(tmp_path, project="someoneelse", containers=(spec,)),
                            WorkspacePaths(tmp_path), dict(os.environ))
        check = only(theirs, "port", f":{free_port}/")
        assert check.status == "fail"
        assert unique_name in check.detail and project in check.detail
    finally:
        running.remove(force=True, v=True)


def test_env_file_and_process_dirs(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text("NEOTOOL_ROOT=examples/neotool-mini\n")
    plan = make_plan(tmp_path, processes=(process("frontend", tmp_path / "nope" / "frontend"),
                                          process("backend", tmp_path)))
    checks = run_checks(plan, WorkspacePaths(tmp_path), dict(os.environ))
    env = only(checks, ".env")
    assert env.status == "warn" and env.hint.startswith("cp .env.example .env")
    assert only(checks, "workdir", "frontend").status == "warn"
    assert "NEOTOOL_ROOT" in only(checks, "workdir", "frontend").hint
    assert only(checks, "workdir", "backend").status == "ok"

    (tmp_path / ".env").write_text("NEOTOOL_ROOT=.\n")
    checks = run_checks(plan, WorkspacePaths(tmp_path), dict(os.environ))
    assert only(checks, ".env").status == "ok"


def test_missing_tools_warn_with_install_hints(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # neither kubectl nor kind on this PATH
    checks = run_checks(None, WorkspacePaths(tmp_path), env)
    for tool in ("kubectl", "kind"):
        check = only(checks, tool)
        assert check.status == "warn" and "install" in check.hint


def test_format_aligns_columns_and_shows_hints() -> None:
    text = format_checks([Check("docker", "ok", "Docker Engine 20.10.24 (API 1.41)"),
                          Check(".env", "warn", "missing", "cp .env.example .env"),
                          Check("port", "fail", "127.0.0.1:5432/tcp (postgres): in use",
                                "stop it")])
    assert text.splitlines() == [
        "ok    docker     Docker Engine 20.10.24 (API 1.41)",
        "warn  .env       missing  -> cp .env.example .env",
        "fail  port       127.0.0.1:5432/tcp (postgres): in use  -> stop it",
    ]


def test_doctor_on_the_shipped_local_profile(tmp_path: Path) -> None:
    from neodev.config.loader import load_plan

    # A copy of the workspace, so loading (which may generate secrets into .neodev/) leaves the
    # checkout alone.
    for tree in ("profiles", "compose"):
        shutil.copytree(REPO_ROOT / tree, tmp_path / tree)
    (tmp_path / ".env").write_text(
        f"NEOTOOL_ROOT={REPO_ROOT / 'examples' / 'neotool-mini'}\n"
        f"NEODEV_POSTGRES_IMAGE={TEST_POSTGRES_IMAGE}\n"
        f"NEODEV_PROMETHEUS_IMAGE={TEST_PROMETHEUS_IMAGE}\n")
    env = {**os.environ, "POSTGRES_PASSWORD": "doctor-test", "GRAFANA_ADMIN_PASSWORD": "x"}
    plan = load_plan(tmp_path, "local", env)
    checks = run_checks(plan, WorkspacePaths(tmp_path), env)
    report = format_checks(checks)

    assert only(checks, "docker").status == "ok", report
    assert only(checks, "image", TEST_POSTGRES_IMAGE).status == "ok", report
    assert only(checks, "image", TEST_PROMETHEUS_IMAGE).status == "ok", report
    for name, spec in plan.containers.items():
        if spec.image not in (TEST_POSTGRES_IMAGE, TEST_PROMETHEUS_IMAGE):
            # Grafana and Loki are not obtainable here: they would be pulled, and doctor says
            # which variable points them elsewhere.
            missing = only(checks, "image", spec.image)
            assert missing.status == "warn" and "would be pulled" in missing.detail, name
            assert spec.image_variable and spec.image_variable in missing.detail
    assert only(checks, ".env").status == "ok"
    for name in plan.processes:
        assert only(checks, "workdir", f"{name}:").status == "ok", report
    # One port line per published container port and per bind address of each process port
    # (`port` and `extra_ports`); whether each is free depends on what else runs on this
    # machine, but every line must say ok or name the owner.
    ports = [c for c in checks if c.name == "port"]
    expected = sum(1 for s in plan.containers.values() for p in s.ports if p.host_port) + sum(
        len(bind_hosts()) * (bool(p.port) + len(p.extra_ports)) for p in plan.processes.values())
    assert len(ports) == expected, report
    for check in ports:
        assert check.status == "ok" or " in use by " in check.detail, report

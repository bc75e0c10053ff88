"""The one spec -> container translation (neodev.docker.create_args), without Docker.

The dev runner and the pytest plugin both build containers from it, so what is asserted here
is what both get: Docker's nanosecond healthcheck form, docker-py port bindings, volumes,
labels, and the plugin's options (random loopback ports, throwaway volumes, its labels).
"""

from __future__ import annotations

import pytest

from neodev.config.loader import load_plan
from neodev.config.model import ContainerSpec, HealthcheckSpec, PortMapping, VolumeMount
from neodev.docker.create_args import (
    CreateOptions,
    config_hash,
    create_args,
    healthcheck_nanos,
    port_bindings,
    tmpfs_owner,
)
from tests.constants import REPO_ROOT


def spec(**overrides: object) -> ContainerSpec:
    fields: dict[str, object] = {
        "name": "postgres", "service": "postgres", "image": "postgres:18-alpine",
        "image_variable": "NEODEV_POSTGRES_IMAGE",
        "environment": {"POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "neotool_dev"},
        "ports": (PortMapping(container_port=5432, host_port=5432),),
        "volumes": (VolumeMount(type="volume", source="neotool_postgres-data",
                                target="/var/lib/postgresql"),
                    VolumeMount(type="bind", source="/ws/compose/init.sql",
                                target="/docker-entrypoint-initdb.d/init.sql", read_only=True)),
        "healthcheck": HealthcheckSpec(test=("CMD-SHELL", "pg_isready -h 127.0.0.1"),
                                       interval=2.0, timeout=5.0, retries=15, start_period=10.0),
        "labels": {"team": "data", "dev.neodev.unit": "overridden-by-neodev"},
        "stop_signal": "SIGINT",
    }
    fields.update(overrides)
    return ContainerSpec(**fields)  # type: ignore[arg-type]


def test_dev_environment_arguments() -> None:
    args = create_args(spec(), "neotool", "neotool_default", "h" * 64,
                       CreateOptions(name="neotool-postgres-1"))
    assert args["image"] == "postgres:18-alpine"
    assert args["name"] == "neotool-postgres-1"
    assert args["environment"] == {"POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "neotool_dev"}
    assert args["ports"] == {"5432/tcp": ("127.0.0.1", 5432)}
    assert args["volumes"] == ["neotool_postgres-data:/var/lib/postgresql:rw",
                               "/ws/compose/init.sql:/docker-entrypoint-initdb.d/init.sql:ro"]
    assert "mounts" not in args
    assert args["healthcheck"] == {
        "test": ["CMD-SHELL", "pg_isready -h 127.0.0.1"], "interval": 2_000_000_000,
        "timeout": 5_000_000_000, "retries": 15, "start_period": 10_000_000_000}
    assert args["network"] == "neotool_default"
    assert args["restart_policy"] == {"Name": "no"}
    assert args["stop_signal"] == "SIGINT"
    labels = args["labels"]
    assert labels["com.docker.compose.project"] == "neotool"
    assert labels["com.docker.compose.service"] == "postgres"
    assert labels["dev.neodev.config-hash"] == "h" * 64
    assert labels["team"] == "data"
    assert labels["dev.neodev.unit"] == "postgres"  # neodev's own labels win over the spec's
    for absent in ("command", "entrypoint", "user", "working_dir"):
        assert absent not in args


def test_optional_fields_are_passed_as_lists_and_values() -> None:
    args = create_args(spec(command=("--config.file=/etc/p.yml",), entrypoint=("/bin/p",),
                            user="nobody", working_dir="/prometheus",
                            extra_hosts={"host.docker.internal": "host-gateway"},
                            healthcheck=None), "p", "p_default", "x")
    assert args["command"] == ["--config.file=/etc/p.yml"]
    assert args["entrypoint"] == ["/bin/p"]
    assert (args["user"], args["working_dir"]) == ("nobody", "/prometheus")
    assert args["extra_hosts"] == {"host.docker.internal": "host-gateway"}
    assert "healthcheck" not in args
    assert "name" not in args  # Docker picks one


def test_ports_fixed_random_twice_and_random_loopback() -> None:
    ports = (PortMapping(container_port=5432, host_port=None),
             PortMapping(container_port=9090, host_port=9090, host_ip="0.0.0.0"),
             PortMapping(container_port=9090, host_port=19090),
             PortMapping(container_port=53, host_port=5353, protocol="udp"))
    assert port_bindings(ports) == {
        "5432/tcp": ("127.0.0.1", None),
        "9090/tcp": [("0.0.0.0", 9090), ("127.0.0.1", 19090)],
        "53/udp": ("127.0.0.1", 5353)}
    # Tests: every port on the loopback, host port chosen by Docker, once per container port.
    assert port_bindings(ports, random_loopback=True) == {
        "5432/tcp": ("127.0.0.1", None), "9090/tcp": ("127.0.0.1", None),
        "53/udp": ("127.0.0.1", None)}


def test_throwaway_volumes_are_labelled_anonymous_mounts_and_binds_stay() -> None:
    labels = {"dev.neodev.pytest.session": "abc"}
    args = create_args(spec(), "neotool-pytest-abc", "net", "h",
                       CreateOptions(throwaway_volumes="anonymous",
                                     random_loopback_ports=True, labels=labels))
    assert args["mounts"] == [{"Type": "volume", "Target": "/var/lib/postgresql",
                               "ReadOnly": False, "VolumeOptions": {"Labels": labels}}]
    # The developer's named volume is not mounted at all.
    assert args["volumes"] == ["/ws/compose/init.sql:/docker-entrypoint-initdb.d/init.sql:ro"]
    assert not any("neotool_postgres-data" in v for v in args["volumes"])
    assert args["ports"] == {"5432/tcp": ("127.0.0.1", None)}
    assert args["labels"]["dev.neodev.pytest.session"] == "abc"
    assert args["labels"]["com.docker.compose.project"] == "neotool-pytest-abc"
    assert "tmpfs" not in args


def test_tmpfs_throwaway_volumes_live_in_memory_only() -> None:
    args = create_args(spec(), "t", "net", "h", CreateOptions(throwaway_volumes="tmpfs"))
    assert args["tmpfs"] == {"/var/lib/postgresql": "rw"}
    assert "mounts" not in args
    assert args["volumes"] == ["/ws/compose/init.sql:/docker-entrypoint-initdb.d/init.sql:ro"]
    # A numeric user gets the tmpfs; a user name cannot: an anonymous volume instead.
    numeric = create_args(spec(user="472"), "t", "net", "h",
                          CreateOptions(throwaway_volumes="tmpfs", image_user="nobody"))
    assert numeric["tmpfs"] == {"/var/lib/postgresql": "rw,uid=472,gid=472"}
    named = create_args(spec(), "t", "net", "h",
                        CreateOptions(throwaway_volumes="tmpfs", image_user="nobody"))
    assert "tmpfs" not in named
    assert [m["Target"] for m in named["mounts"]] == ["/var/lib/postgresql"]


@pytest.mark.parametrize(("user", "options"), [
    ("", ""), ("root", ""), ("0:0", ""), ("10001", "uid=10001,gid=10001"),
    ("472:0", "uid=472,gid=0"), ("nobody", None), ("1000:staff", None)])
def test_tmpfs_owner(user: str, options: str | None) -> None:
    assert tmpfs_owner(user) == options


def test_inherited_anonymous_volumes_are_mounted_where_the_spec_has_none() -> None:
    args = create_args(spec(), "neotool", "net", "h", CreateOptions(inherited_volumes={
        "/var/lib/postgresql": "a" * 64, "/extra": "b" * 64}))
    assert f"{'b' * 64}:/extra:rw" in args["volumes"]
    assert not any(v.startswith("a" * 64) for v in args["volumes"])


def test_healthcheck_interval_cap_keeps_the_unhealthy_window() -> None:
    hc = HealthcheckSpec(test=("CMD", "true"), interval=2.0, timeout=5.0, retries=15,
                         start_period=10.0)
    fast = healthcheck_nanos(hc, max_interval=0.5)
    assert fast["interval"] == 500_000_000
    assert fast["retries"] == 60  # 15 x 2 s == 60 x 0.5 s
    assert fast["timeout"] == 5_000_000_000 and fast["start_period"] == 10_000_000_000
    assert healthcheck_nanos(hc, max_interval=5.0)["interval"] == 2_000_000_000  # never slower
    assert healthcheck_nanos(hc)["retries"] == 15


def test_config_hash_ignores_engine_fields_and_sees_the_image() -> None:
    base = config_hash(spec(), "neotool", "net", "sha256:1")
    assert config_hash(spec(stop_grace=99.0, restart="always"), "neotool", "net",
                       "sha256:1") == base
    assert config_hash(spec(), "neotool", "net", "sha256:2") != base
    assert config_hash(spec(environment={"POSTGRES_PASSWORD": "other"}), "neotool", "net",
                       "sha256:1") != base


def test_the_local_profile_translates_without_a_host_port_on_another_interface() -> None:
    plan = load_plan(REPO_ROOT, "local", environ={
        "POSTGRES_PASSWORD": "pw-for-test", "GRAFANA_ADMIN_PASSWORD": "pw-for-test2",
        "NEODEV_WORKSPACE": str(REPO_ROOT)})
    for name, container in plan.containers.items():
        args = create_args(container, plan.project, plan.network, "h")
        for binding in args["ports"].values():
            for host_ip, _ in binding if isinstance(binding, list) else [binding]:
                assert host_ip == "127.0.0.1", name
        test_args = create_args(container, "t", "t_net", "h", CreateOptions(
            throwaway_volumes="tmpfs", random_loopback_ports=True))
        assert not any(v.split(":")[0] in plan.volumes for v in test_args["volumes"]), name

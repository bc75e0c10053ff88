"""Compose YAML -> ContainerSpec: supported syntax forms, and clear refusals for the rest."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from neodev.config.compose import build_containers, duration, load_compose
from neodev.config.model import ContainerSpec, DependencyCondition, RestartPolicy
from neodev.errors import ConfigError


def _load(tmp_path: Path, text: str, env: dict[str, str] | None = None,
          project: str = "proj") -> dict[str, ContainerSpec]:
    path = tmp_path / "compose.yml"
    path.write_text(textwrap.dedent(text))
    cf = load_compose(path, env or {}, [])
    return build_containers(cf, project, env or {})[0]


def _fails(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text, env)
    return info.value


def test_list_forms_and_long_syntax(tmp_path: Path) -> None:
    svc = _load(tmp_path, """
        services:
          web:
            image: nginx
            environment: ["A=1", "B", "C"]
            ports:
              - "127.0.0.1::80"
              - "0.0.0.0:8443:443/udp"
              - "[::1]:9000:9000"
              - {target: 81, published: "8081", host_ip: 127.0.0.1, protocol: tcp}
            volumes:
              - type: volume
                source: data
                target: /data
                read_only: true
              - /abs/path:/mnt:rw
            extra_hosts: ["host.docker.internal:host-gateway", "db=10.0.0.5", "v6:::1"]
            labels: ["a=b", "c=d=e"]
            depends_on: [other]
            entrypoint: ["/bin/sh", "-c"]
            command: ["echo", 5]
            user: "1000:1000"
            working_dir: /srv
            stop_signal: SIGINT
            restart: "on-failure:3"
          other:
            image: busybox
            environment: {NUM: 5, FLAG: true, NONE: null}
            healthcheck: {test: "true", disable: true}
            restart: no
        volumes:
          data: {name: explicit-name}
    """, env={"B": "from-env"})
    web, other = svc["web"], svc["other"]
    assert web.environment == {"A": "1", "B": "from-env"}
    assert [(p.host_ip, p.host_port, p.container_port, p.protocol) for p in web.ports] == [
        ("127.0.0.1", None, 80, "tcp"), ("0.0.0.0", 8443, 443, "udp"),
        ("::1", 9000, 9000, "tcp"), ("127.0.0.1", 8081, 81, "tcp")]
    assert [(v.type, v.source, v.read_only) for v in web.volumes] == [
        ("volume", "explicit-name", True), ("bind", "/abs/path", False)]
    assert web.extra_hosts == {"host.docker.internal": "host-gateway", "db": "10.0.0.5",
                               "v6": "::1"}
    assert web.labels == {"a": "b", "c": "d=e"}
    assert web.depends_on[0].condition is DependencyCondition.STARTED
    assert web.entrypoint == ("/bin/sh", "-c")
    assert web.command == ("echo", "5")
    assert (web.user, web.working_dir, web.stop_signal) == ("1000:1000", "/srv", "SIGINT")
    assert web.restart is RestartPolicy.ON_FAILURE
    assert web.image_variable is None
    assert other.environment == {"NUM": "5", "FLAG": "true"}
    assert other.healthcheck is not None and other.healthcheck.test == ("NONE",)
    assert other.readiness is None
    assert other.restart is RestartPolicy.NO


@pytest.mark.parametrize(("text", "seconds"), [
    ("5s", 5.0), ("1m30s", 90.0), ("500ms", 0.5), ("1h", 3600.0), ("2.5s", 2.5), (7, 7.0),
    ("1m0.5s", 60.5), ("100us", 0.0001),
])
def test_durations(text: object, seconds: float) -> None:
    assert duration(None, "k", text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5", "5 s", "s", "1d", "", "1m30"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigError, match="invalid duration"):
        duration(None, "services.x.healthcheck.interval", text)


def test_port_without_host_ip_is_refused(tmp_path: Path) -> None:
    err = _fails(tmp_path, """
        services:
          db:
            image: postgres
            ports: ["5432:5432"]
    """)
    assert err.key == "services.db.ports[0]"
    assert err.line == 5
    assert "'127.0.0.1:5432:5432'" in err.message
    assert "listen on every interface" in err.message


def test_long_port_without_host_ip_is_refused(tmp_path: Path) -> None:
    err = _fails(tmp_path, """
        services:
          db:
            image: postgres
            ports: [{target: 5432, published: 5432}]
    """)
    assert "must name host_ip explicitly" in err.message


def test_unsupported_service_key_lists_supported_ones(tmp_path: Path) -> None:
    err = _fails(tmp_path, """
        services:
          db:
            image: postgres
            container_name: fixed
    """)
    assert err.key == "services.db.container_name"
    assert err.line == 5
    assert "neodev does not support compose key 'container_name'" in err.message
    assert "(supported: image, environment, ports," in err.message


def test_misspelled_service_key_has_did_you_mean(tmp_path: Path) -> None:
    err = _fails(tmp_path, """
        services:
          db:
            image: postgres
            enviroment: {A: b}
    """)
    assert "'enviroment' (did you mean 'environment'?)" in err.message


def test_extension_keys_are_ignored(tmp_path: Path) -> None:
    svc = _load(tmp_path, """
        x-common: &common
          image: busybox
        services:
          a:
            <<: *common
            x-note: anything
    """)
    assert svc["a"].image == "busybox"


def test_undeclared_named_volume(tmp_path: Path) -> None:
    err = _fails(tmp_path, """
        services:
          db:
            image: postgres
            volumes: ["pgdata:/var/lib/postgresql"]
        volumes:
          pg-data:
    """)
    assert "volume 'pgdata' is not declared under top-level `volumes:`" in err.message
    assert "(did you mean 'pg-data'?)" in err.message


def test_only_the_default_network(tmp_path: Path) -> None:
    err = _fails(tmp_path, """
        services:
          db: {image: postgres}
        networks:
          backend: {}
    """)
    assert "only the `default` network" in err.message


def test_bad_condition_and_restart(tmp_path: Path) -> None:
    err = _fails(tmp_path, """
        services:
          a: {image: x, depends_on: {b: {condition: service_healty}}}
          b: {image: x}
    """)
    assert "'service_healty' (did you mean 'service_healthy'?)" in err.message
    err = _fails(tmp_path, """
        services:
          a: {image: x, restart: sometimes}
    """)
    assert "unknown restart policy 'sometimes'" in err.message


def test_yaml_syntax_error_has_the_line(tmp_path: Path) -> None:
    err = _fails(tmp_path, """
        services:
          db:
            image: postgres
           ports: [
    """)
    assert err.line is not None and err.line >= 4
    assert "YAML syntax error" in err.message


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    err = _fails(tmp_path, """
        services:
          db:
            image: a
            image: b
    """)
    assert err.line == 5
    assert "duplicate key 'image'" in err.message


def test_malformed_template_in_compose(tmp_path: Path) -> None:
    err = _fails(tmp_path, """
        services:
          db:
            image: postgres
            environment:
              PW: ${1BAD}
    """)
    assert err.key == "services.db.environment.PW"
    assert err.line == 6
    assert "'${1BAD}'" in err.message


def test_service_needs_an_image(tmp_path: Path) -> None:
    err = _fails(tmp_path, """
        services:
          app:
            ports: ["127.0.0.1:80:80"]
    """)
    assert "needs an `image:`" in err.message


def test_unset_variable_warns(tmp_path: Path) -> None:
    path = tmp_path / "compose.yml"
    path.write_text("services:\n  a:\n    image: busybox:${TAG}\n")
    warnings: list[str] = []
    cf = load_compose(path, {}, warnings)
    assert build_containers(cf, "p", {})[0]["a"].image == "busybox:"
    assert warnings == [f"variable TAG is not set; using an empty string (in {path}, "
                        "services.a.image)"]


@pytest.mark.parametrize(("text", "key", "needle"), [
    ("services:\n  a: {image: [x]}\n", "services.a.image", "`image` must be a string"),
    ("services:\n  a: {image: x, user: {id: 1}}\n", "services.a.user", "expected a string"),
    ("services:\n  a: {image: x, command: [run, [1]]}\n", "services.a.command[1]",
     "expected a string"),
    ("services:\n  a: {image: x, environment: {A: {b: 1}}}\n", "services.a.environment.A",
     "expected a string, number or boolean"),
    ("services:\n  a: {image: x, labels: {l: [1]}}\n", "services.a.labels.l", "expected a"),
    ("services:\n  a: {image: x, extra_hosts: [{h: 1.2.3.4}]}\n", "services.a.extra_hosts[0]",
     "expected a string"),
    ("services:\n  a: {image: x, ports: '127.0.0.1:80:80'}\n", "services.a.ports",
     "expected a list"),
    ("services:\n  a: {image: x, ports: ['localhost:80:80']}\n", "services.a.ports[0]",
     "'localhost' is not an IP address"),
    ("services:\n  a: {image: x, healthcheck: {test: [RUN, x]}}\n",
     "services.a.healthcheck.test[0]", "starts with CMD, CMD-SHELL or NONE, not 'RUN'"),
    ("services:\n  a: {image: x, healthcheck: {test: [CMD, {x: 1}]}}\n",
     "services.a.healthcheck.test[1]", "expected a string"),
    ("services:\n  a: {image: x, depends_on: {b: [service_started]}}\n  b: {image: x}\n",
     "services.a.depends_on.b", "expected a mapping"),
    ("services:\n  a: {image: x, depends_on: {b: {condition: [x]}}}\n  b: {image: x}\n",
     "services.a.depends_on.b.condition", "unknown condition ['x']"),
    ("services:\n  a b: {image: x}\n", "services.a b", "service name 'a b'"),
    ("services:\n  ünïcode: {image: x}\n", "services.ünïcode", "service name"),
    ("name: Neo Tool\nservices: {}\n", "name", "invalid project name 'Neo Tool'"),
    ("services: {}\nvolumes:\n  data: [x]\n", "volumes.data", "must be a mapping"),
    ("services:\n  a: {image: x, healthcheck: {test: 'true', interval: '" + "1" * 50000
     + "'}}\n", "services.a.healthcheck.interval", "invalid duration '111"),
])
def test_values_of_the_wrong_type_name_their_key(tmp_path: Path, text: str, key: str,
                                                 needle: str) -> None:
    err = _fails(tmp_path, text)
    assert err.key == key
    assert needle in err.message
    assert len(err.message) < 600  # bad values are quoted briefly


def test_numbers_where_compose_takes_strings(tmp_path: Path) -> None:
    svc = _load(tmp_path, """
        services:
          a:
            image: x
            user: 1000
            command: [sleep, 5]
            environment: [A=1, B]
    """, env={"B": "b"})["a"]
    assert svc.user == "1000"
    assert svc.command == ("sleep", "5")
    assert svc.environment == {"A": "1", "B": "b"}

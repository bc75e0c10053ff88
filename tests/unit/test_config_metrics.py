"""The profile's `metrics` key: each accepted form, the frozen model it becomes, each error."""

from __future__ import annotations

from pathlib import Path

import pytest

from neodev.config.loader import load_plan
from neodev.config.model import MetricsEndpoint
from neodev.errors import ConfigError

COMPOSE = """\
name: m
services:
  exporter:
    image: exporter:1
    ports: ["127.0.0.1:19187:9187"]
  web:
    image: web:1
    ports: ["127.0.0.1:18081:8081", "127.0.0.1:18082:8082"]
  quiet:
    image: quiet:1
"""


def _workspace(tmp_path: Path, profile: str) -> Path:
    (tmp_path / "compose").mkdir()
    (tmp_path / "compose" / "stack.yml").write_text(COMPOSE)
    (tmp_path / "profiles").mkdir()
    (tmp_path / "app").mkdir()
    (tmp_path / "profiles" / "p.toml").write_text(
        '[project]\ncompose = ["../compose/stack.yml"]\n\n' + profile)
    return tmp_path


def _error(tmp_path: Path, profile: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_plan(_workspace(tmp_path, profile), "p", {})
    return info.value


def test_every_accepted_form_becomes_a_frozen_endpoint(tmp_path: Path) -> None:
    plan = load_plan(_workspace(tmp_path, """\
[services.exporter]
metrics = "/metrics"

[services.web]
metrics = { port = 8082 }

[processes.api]
cwd = "../app"
command = "serve"
port = 8080
metrics = "/prometheus"

[processes.worker]
cwd = "../app"
command = "work"
port = 8090
metrics = { path = "/stats", port = 9100 }

[processes.off]
cwd = "../app"
command = "off"
port = 8070
metrics = false

[processes.absent]
cwd = "../app"
command = "absent"
port = 8060
"""), "p", {})
    # a container's own port is its container port (scraped on the project network)
    assert plan.containers["exporter"].metrics == MetricsEndpoint(path="/metrics", port=9187)
    assert plan.containers["web"].metrics == MetricsEndpoint(path="/metrics", port=8082)
    assert plan.containers["quiet"].metrics is None
    assert plan.processes["api"].metrics == MetricsEndpoint(path="/prometheus", port=8080)
    assert plan.processes["worker"].metrics == MetricsEndpoint(path="/stats", port=9100)
    assert plan.processes["off"].metrics is None
    assert plan.processes["absent"].metrics is None
    with pytest.raises(ValueError):
        plan.processes["api"].metrics.port = 1  # type: ignore[union-attr,misc]


def test_the_shipped_local_profile_scrapes_the_backend_on_its_port() -> None:
    root = Path(__file__).resolve().parent.parent.parent
    plan = load_plan(root, "local", {"POSTGRES_PASSWORD": "p", "GRAFANA_ADMIN_PASSWORD": "g",
                                     "NEOTOOL_ROOT": "./examples/neotool-mini"})
    backend = plan.processes["backend"]
    assert backend.metrics == MetricsEndpoint(path="/metrics", port=backend.port or 0)
    assert backend.port == 8080
    # the demo frontend and router export nothing: nothing to scrape for them
    assert plan.processes["frontend"].metrics is None
    assert plan.processes["router"].metrics is None


PROCESS = '[processes.api]\ncwd = "../app"\ncommand = "serve"\n'


@pytest.mark.parametrize(("value", "expected"), [
    ("true", "metrics = true is ambiguous: write metrics = \"/metrics\""),
    ('"metrics"', "a metrics path must start with '/'"),
    ('"/metrics?x=1"', "a metrics path must start with '/'"),
    ("8080", "expected metrics = \"/metrics\" (path on the unit's port), metrics = "
             "{ path = \"/metrics\", port = 8080 }, or metrics = false"),
    ('{ path = "metrics" }', "a metrics path must start with '/'"),
    ("{ port = 70000 }", "less than or equal to 65535"),
])
def test_invalid_values_name_the_key_and_the_valid_forms(tmp_path: Path, value: str,
                                                         expected: str) -> None:
    err = _error(tmp_path, PROCESS + f"port = 8080\nmetrics = {value}\n")
    assert err.key is not None and err.key.startswith("processes.api.metrics")
    assert err.line == 8  # the `metrics =` line of the profile
    assert expected in err.message


def test_a_misspelt_table_key_gets_a_did_you_mean(tmp_path: Path) -> None:
    err = _error(tmp_path, PROCESS + 'port = 8080\nmetrics = { paht = "/m" }\n')
    assert err.key == "processes.api.metrics.paht"
    assert "unknown key 'paht' (did you mean 'path'?); valid keys here: path, port" \
        in err.message


def test_a_path_alone_needs_the_process_port(tmp_path: Path) -> None:
    err = _error(tmp_path, PROCESS + 'metrics = "/metrics"\n')
    assert err.key == "processes.api.metrics"
    assert "metrics without a port needs the process's `port`" in err.message
    assert 'metrics = { path = "/metrics", port = 8080 }' in err.message


@pytest.mark.parametrize(("service", "ports"), [("web", "8081, 8082"), ("quiet", "none")])
def test_a_path_alone_needs_exactly_one_container_port(tmp_path: Path, service: str,
                                                       ports: str) -> None:
    err = _error(tmp_path, f'[services.{service}]\nmetrics = "/metrics"\n')
    assert err.key == f"services.{service}.metrics"
    assert f"(this service has: {ports})" in err.message
    assert "name the container port Prometheus scrapes on the project network" in err.message

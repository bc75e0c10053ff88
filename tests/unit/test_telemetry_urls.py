"""URLs of Grafana, Prometheus and Loki from the plan, and the Grafana Explore link for a unit."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from neodev.config.loader import load_plan
from neodev.config.model import EnvironmentPlan, PortMapping
from neodev.telemetry import urls
from tests import grafana_files
from tests.constants import REPO_ROOT


@pytest.fixture(scope="module")
def plan() -> EnvironmentPlan:
    return load_plan(REPO_ROOT, "local", {"POSTGRES_PASSWORD": "p",
                                          "GRAFANA_ADMIN_PASSWORD": "g"})


def _with_ports(plan: EnvironmentPlan, service: str, *ports: PortMapping) -> EnvironmentPlan:
    spec = plan.containers[service].model_copy(update={"ports": ports})
    return plan.model_copy(update={"containers": {**plan.containers, service: spec}})


def test_urls_of_the_shipped_stack(plan: EnvironmentPlan) -> None:
    assert urls.grafana_url(plan) == "http://127.0.0.1:3001"  # host 3001 -> container 3000
    assert urls.prometheus_url(plan) == "http://127.0.0.1:9090"
    assert urls.loki_url(plan) == "http://127.0.0.1:3100"


def test_the_port_docker_published_wins(plan: EnvironmentPlan) -> None:
    seen: list[tuple[str, int]] = []

    def published(unit: str, port: int) -> int | None:
        seen.append((unit, port))
        return 49153 if unit == "grafana" else None
    assert urls.grafana_url(plan, published) == "http://127.0.0.1:49153"
    assert urls.loki_url(plan, published) == "http://127.0.0.1:3100"  # unknown: the plan's
    assert seen == [("grafana", 3000), ("loki", 3100)]


def test_a_port_docker_picks_is_unknown_until_published(plan: EnvironmentPlan) -> None:
    picked = _with_ports(plan, "grafana", PortMapping(container_port=3000, host_port=None))
    assert urls.grafana_url(picked) is None
    assert urls.grafana_url(picked, lambda unit, port: 32768) == "http://127.0.0.1:32768"


@pytest.mark.parametrize(("host_ip", "host"), [("0.0.0.0", "127.0.0.1"), ("", "127.0.0.1"),
                                               ("192.168.1.5", "192.168.1.5"),
                                               ("::", "[::1]"), ("::1", "[::1]")])
def test_host_of_the_published_address(plan: EnvironmentPlan, host_ip: str, host: str) -> None:
    bound = _with_ports(plan, "prometheus",
                        PortMapping(container_port=9090, host_port=9091, host_ip=host_ip))
    assert urls.prometheus_url(bound) == f"http://{host}:9091"


def test_no_url_for_a_service_the_plan_lacks_or_does_not_publish(plan: EnvironmentPlan) -> None:
    without = plan.model_copy(update={"containers": {
        n: c for n, c in plan.containers.items() if n != "loki"}})
    assert urls.loki_url(without) is None
    assert urls.loki_url(_with_ports(plan, "loki")) is None
    other_port = _with_ports(plan, "loki", PortMapping(container_port=9999, host_port=9999))
    assert urls.loki_url(other_port) is None


def test_unit_logs_query_uses_the_shippers_labels_and_escapes() -> None:
    assert urls.unit_logs_query("neotool", "backend") == '{project="neotool", unit="backend"}'
    assert urls.unit_logs_query('we"ird', "a\\b") == '{project="we\\"ird", unit="a\\\\b"}'


def test_explore_url_opens_one_units_logs_on_the_provisioned_loki() -> None:
    link = urls.grafana_explore_url("http://127.0.0.1:3001/", "neotool", "backend")
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "127.0.0.1:3001", "/explore")
    for raw in ' "{}[]':
        assert raw not in parts.query  # everything URL-encoded
    params = parse_qs(parts.query, strict_parsing=True)
    assert params["schemaVersion"] == ["1"] and params["orgId"] == ["1"]
    (pane,) = json.loads(params["panes"][0]).values()
    loki_uid = next(d["uid"] for d in grafana_files.datasources()["datasources"]
                    if d["type"] == "loki")
    assert pane["datasource"] == loki_uid == urls.LOKI_DATASOURCE_UID
    (query,) = pane["queries"]
    assert query["datasource"] == {"type": "loki", "uid": loki_uid}
    assert query["expr"] == '{project="neotool", unit="backend"}'
    assert pane["range"] == {"from": "now-1h", "to": "now"}

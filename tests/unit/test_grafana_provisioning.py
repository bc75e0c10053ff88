"""The shipped Grafana provisioning and NeoTool dashboard, checked against what feeds them.

Grafana cannot run here, so its files are checked for the documented structure (reference §9)
and against their sources: datasource uids referenced by the dashboard exist; PromQL uses the
labels neodev's Prometheus targets carry and the metrics the demo backend exports; LogQL uses
the labels and metadata the Loki shipper sends (imported from it, not repeated). The PromQL is
parsed by Prometheus' own promtool in tests/integration/test_telemetry_prometheus.py.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml

from neodev.config.loader import load_plan
from neodev.configstate import prepare_secrets
from neodev.telemetry import labels
from neodev.telemetry import loki as shipper
from tests import grafana_files as files
from tests.constants import REPO_ROOT

COMPOSE = yaml.safe_load((REPO_ROOT / "compose" / "docker-compose.local.yml").read_text())
MICROMETER = {"http_server_requests_seconds_count", "http_server_requests_seconds_bucket"}
"""Micrometer's names (the real Micronaut backend), the alternative side of each `or`."""
PROMETHEUS_OWN_LABELS = {"job", "instance", "le"}


def _mounts(service: str) -> dict[str, str]:
    return dict(v.split(":")[:2] for v in COMPOSE["services"][service]["volumes"])


def test_datasources_file_structure_and_fixed_uids() -> None:
    config = files.datasources()
    assert config["apiVersion"] == 1
    assert set(config) <= {"apiVersion", "datasources", "deleteDatasources"}
    by_type = {d["type"]: d for d in config["datasources"]}
    assert set(by_type) == {"prometheus", "loki"}
    assert {t: d["uid"] for t, d in by_type.items()} == {"prometheus": "neodev-prom",
                                                         "loki": "neodev-loki"}
    for source in config["datasources"]:
        assert {"name", "type", "uid", "access", "url"} <= set(source)
        assert source["access"] == "proxy"  # Grafana's server reaches them on the network
    # the URLs are the compose services on their container ports (the project network)
    assert by_type["prometheus"]["url"] == "http://prometheus:9090"
    assert by_type["loki"]["url"] == "http://loki:3100"
    for service, port in (("prometheus", 9090), ("loki", 3100)):
        assert any(p.endswith(f":{port}") for p in COMPOSE["services"][service]["ports"])
    assert [d["isDefault"] for d in config["datasources"] if d.get("isDefault")] == [True]


def test_dashboard_provider_points_at_the_mounted_dashboards() -> None:
    config = files.providers()
    assert config["apiVersion"] == 1 and set(config) == {"apiVersion", "providers"}
    (provider,) = config["providers"]
    assert {"name", "type", "options"} <= set(provider) and provider["type"] == "file"
    if provider["options"].get("foldersFromFilesStructure"):
        assert not provider.get("folder") and not provider.get("folderUid")
    mounts = _mounts("grafana")
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"


def test_every_datasource_reference_exists_and_is_by_uid() -> None:
    uids = {d["uid"]: d["type"] for d in files.datasources()["datasources"]}
    dashboard = files.dashboard()
    assert dashboard["uid"] == "neotool-overview"
    refs = list(files.datasource_refs(dashboard))
    assert len(refs) >= 2 * len(dashboard["panels"])  # each panel and each of its targets
    for where, ref in refs:
        assert isinstance(ref, dict), f"{where}: refer to datasources by uid, not by name"
        assert ref["uid"] in uids, f"{where}: unknown datasource uid {ref['uid']!r}"
        assert ref["type"] == uids[ref["uid"]], where
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    panels = {p["title"]: p for p in files.dashboard()["panels"]}
    assert {"Units up", "Request rate", "Latency p50 / p95", "Error log lines per unit"} <= \
        set(panels)
    assert "up{" in panels["Units up"]["targets"][0]["expr"]
    assert panels["Error log lines per unit"]["datasource"]["type"] == "loki"
    assert "count_over_time(" in panels["Error log lines per unit"]["targets"][0]["expr"]


def test_promql_uses_the_demo_backends_metrics_and_the_target_labels() -> None:
    exported = files.exported_metrics(files.demo_backend_metrics())
    assert {"http_requests_total", "http_request_duration_seconds_bucket"} <= set(exported)
    metric_labels = set().union(*exported.values())
    target_labels = {labels.PROJECT, labels.UNIT, labels.KIND}  # what targets.py writes
    exprs = files.queries("prometheus")
    assert len(exprs) >= 5
    for where, expr in exprs:
        names = files.metric_names(expr)
        assert names, where
        assert names <= set(exported) | MICROMETER | {"up"}, (where, names)
        # whatever the alternative, the demo backend feeds every panel
        assert names & (set(exported) | {"up"}), (where, names)
        used = files.matcher_labels(expr) | files.grouping_labels(expr)
        assert used <= target_labels | metric_labels | PROMETHEUS_OWN_LABELS, (where, used)
    variables = {v["name"]: v for v in files.dashboard()["templating"]["list"]}
    assert variables["project"]["query"]["query"] == f"label_values(up, {labels.PROJECT})"


def test_logql_uses_only_what_the_shipper_sends() -> None:
    exprs = files.queries("loki")
    assert len(exprs) >= 2
    for where, expr in exprs:
        selector, pipeline = files.logql_parts(expr)
        stream_labels = files.matcher_labels(selector)
        assert stream_labels, where
        assert stream_labels <= set(shipper.LABEL_NAMES), (where, stream_labels)
        assert files.matcher_labels(pipeline) <= set(shipper.METADATA_NAMES), where
        assert files.grouping_labels(expr) <= set(shipper.LABEL_NAMES), where
        # Loki refuses a selector whose every matcher matches "": the All value is ".+"
        assert re.search(r'=~"\$\w+"', selector) or '="' in selector, where
        levels = re.search(r'level=~"([^"]+)"', pipeline)
        if levels:
            assert levels.group(1).split("|") == list(shipper.ERROR_LEVELS), where
    variables = {v["name"]: v for v in files.dashboard()["templating"]["list"]}
    assert variables["unit"]["query"]["label"] in shipper.LABEL_NAMES
    for variable in variables.values():
        assert variable["allValue"] == ".+"


def test_grafana_admin_password_is_generated_never_a_default(tmp_path: Path) -> None:
    grafana = COMPOSE["services"]["grafana"]["environment"]
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    root = tmp_path / "ws"
    for name in ("profiles", "compose", "examples"):
        shutil.copytree(REPO_ROOT / name, root / name, ignore=shutil.ignore_patterns("k8s"))
    generated, secrets_file = prepare_secrets(root, "local", {})
    assert "GRAFANA_ADMIN_PASSWORD" in generated
    assert secrets_file == root / ".neodev" / "secrets.env"
    password = load_plan(root, "local", {}).containers["grafana"].environment[
        "GF_SECURITY_ADMIN_PASSWORD"]
    assert len(password) >= 24 and password != "admin"
    assert password in secrets_file.read_text()

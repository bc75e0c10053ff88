"""Reading the shipped Grafana provisioning and dashboard, and the demo backend's metrics.

Shared by the structural unit tests (tests/unit/test_grafana_provisioning.py) and the checks
through real Prometheus (tests/integration/test_telemetry_prometheus.py).
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from typing import Any

import yaml

from tests.constants import REPO_ROOT

GRAFANA = REPO_ROOT / "compose" / "grafana"
DATASOURCES_FILE = GRAFANA / "provisioning" / "datasources" / "neotool.yaml"
PROVIDERS_FILE = GRAFANA / "provisioning" / "dashboards" / "neotool.yaml"
DASHBOARD_FILE = GRAFANA / "dashboards" / "neotool-overview.json"
DEMO_BACKEND = REPO_ROOT / "examples" / "neotool-mini" / "backend" / "src" / "app.py"

_METRIC_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s", re.MULTILINE)


def datasources() -> dict[str, Any]:
    return dict(yaml.safe_load(DATASOURCES_FILE.read_text()))


def providers() -> dict[str, Any]:
    return dict(yaml.safe_load(PROVIDERS_FILE.read_text()))


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD_FILE.read_text()))


def datasource_refs(node: Any, where: str = "dashboard") -> Iterator[tuple[str, Any]]:
    """Every `datasource` value anywhere in the dashboard JSON, with where it is."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield where, value
            yield from datasource_refs(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from datasource_refs(value, f"{where}[{i}]")


def queries(kind: str) -> list[tuple[str, str]]:
    """(panel title + refId, expr) of every panel target on a datasource of type `kind`."""
    found = []
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            if target["datasource"]["type"] == kind:
                found.append((f"{panel['title']} {target['refId']}", target["expr"]))
    return found


def substitute(expr: str, interval: str = "1m", value: str = ".+") -> str:
    """Grafana's template variables replaced the way Grafana would (All = the allValue)."""
    expr = expr.replace("$__rate_interval", interval).replace("$__interval", interval)
    return re.sub(r"\$\{?(\w+)\}?", value, expr)


def metric_names(promql: str) -> set[str]:
    """Metric names of the selectors of an expression (all are written `name{...}`)."""
    return {m for m in _METRIC_SELECTOR.findall(promql)}


def matcher_labels(expr: str) -> set[str]:
    """Label names compared in matchers and label filters (`name=~"..."`)."""
    return set(_MATCHER.findall(expr))


def grouping_labels(expr: str) -> set[str]:
    """Label names of `by (...)` / `without (...)` clauses."""
    return {name.strip() for group in _GROUPING.findall(expr) for name in group.split(",")
            if name.strip()}


def logql_parts(expr: str) -> tuple[str, str]:
    """(the stream selector `{...}`, the pipeline after it) of a LogQL expression."""
    start = expr.index("{")
    end = expr.index("}", start)
    return expr[start:end + 1], expr[end + 1:]


def demo_backend_metrics() -> str:
    """The demo backend's /metrics text after one request (imported, not run)."""
    spec = importlib.util.spec_from_file_location("neotool_mini_backend", DEMO_BACKEND)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.observe("GET", "/items", 200, 0.012)
    return str(module.metrics_text())


def exported_metrics(text: str) -> dict[str, set[str]]:
    """Sample name -> label names, from Prometheus text format."""
    found: dict[str, set[str]] = {}
    for name, labels in _SAMPLE.findall(text):
        found.setdefault(name, set()).update(re.findall(r"(\w+)=\"", labels or ""))
    return found

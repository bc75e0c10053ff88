"""The shipped default images — PostgreSQL 18, Prometheus 3.x — and what can be checked of them
without running them.

No registry is reachable here, so no test starts `postgres:18-alpine` or `prom/prometheus:v3`:
the suite runs local stand-ins (PostgreSQL 15 and Prometheus 2.42 from Debian). Prometheus 3's
`promtool` cannot be had either (Debian has 2.42, neither PyPI nor npm carries it), so the
shipped files are checked against the rules the 3.0 migration guide documents
(prometheus/prometheus docs/migration.md) and the Postgres 18 image's own settings
(docker-library/postgres 18/*/Dockerfile: `ENV PGDATA /var/lib/postgresql/18/docker`,
`VOLUME /var/lib/postgresql`; its entrypoint refuses data at the old `.../data` mount). The
README names the defaults and this gap.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import yaml

from neodev.config.loader import load_plan
from tests import grafana_files
from tests.constants import REPO_ROOT

STACK = REPO_ROOT / "compose" / "docker-compose.local.yml"
ENVIRON = {"POSTGRES_PASSWORD": "pw-for-tests", "GRAFANA_ADMIN_PASSWORD": "gf-for-tests"}

REMOVED_FEATURE_FLAGS = {
    "promql-at-modifier", "promql-negative-offset", "new-service-discovery-manager",
    "expand-external-labels", "no-default-scrape-port", "agent", "remote-write-receiver",
    "auto-gomemlimit", "auto-gomaxprocs"}
"""`--enable-feature` values Prometheus 3.0 removed (now the default, or their own flags)."""


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load(STACK.read_text()))


def _default(service: str) -> str:
    """The default image of a service: `${NEODEV_X_IMAGE:-<default>}`."""
    match = re.fullmatch(r"\$\{\w+:-([^}]+)\}", _compose()["services"][service]["image"])
    assert match, service
    return match.group(1)


def test_the_defaults_are_postgres_18_and_prometheus_3_and_the_readme_says_so() -> None:
    postgres, prometheus = _default("postgres"), _default("prometheus")
    assert re.fullmatch(r"postgres:18(\.\d+)?-alpine", postgres), postgres
    assert re.fullmatch(r"prom/prometheus:v3\.\d+\.\d+", prometheus), prometheus
    readme = (REPO_ROOT / "README.md").read_text()
    for image in (postgres, prometheus, _default("grafana"), _default("loki")):
        assert f"`{image}`" in readme, f"the README does not name the default image {image}"
    assert "no test starts them" in readme  # the gap, said where the prerequisites are


def test_postgres_keeps_its_data_where_the_18_image_does(tmp_path: Path) -> None:
    service = _compose()["services"]["postgres"]
    # the volume is the image's VOLUME, the parent of PGDATA's major-versioned directory
    targets = [v.split(":")[1] for v in service["volumes"]]
    assert targets == ["/var/lib/postgresql"]
    assert not any(t.startswith("/var/lib/postgresql/data") for t in targets)
    assert "PGDATA" not in service.get("environment", {})  # the image's own PGDATA applies
    # through neodev's loader as it will run: the healthcheck is pg_isready over TCP, with the
    # user and database expanded by the container's shell (compose's $$), not by compose
    plan = load_plan(_workspace(tmp_path), "local", ENVIRON)
    pg = plan.containers["postgres"]
    assert pg.healthcheck is not None
    assert pg.healthcheck.test == ("CMD-SHELL", 'pg_isready -h 127.0.0.1 -U "${POSTGRES_USER}" '
                                                '-d "${POSTGRES_DB}"')
    assert [(m.target, m.type) for m in pg.volumes] == [("/var/lib/postgresql", "volume")]


def test_the_postgres_stand_in_is_laid_out_like_the_18_image() -> None:
    dockerfile = (REPO_ROOT / "tests" / "images" / "postgres" / "Dockerfile").read_text()
    pgdata = re.search(r"PGDATA=(\S+)", dockerfile)
    assert pgdata and re.fullmatch(r"/var/lib/postgresql/\d+/docker", pgdata.group(1))
    assert "VOLUME /var/lib/postgresql\n" in dockerfile


def test_prometheus_command_and_config_follow_the_3x_rules() -> None:
    command = _compose()["services"]["prometheus"]["command"]
    features = {f for arg in command if arg.startswith("--enable-feature=")
                for f in arg.split("=", 1)[1].split(",")}
    assert not features & REMOVED_FEATURE_FLAGS
    config = yaml.safe_load((REPO_ROOT / "compose" / "prometheus.yml").read_text())
    text = (REPO_ROOT / "compose" / "prometheus.yml").read_text()
    assert "scrape_classic_histograms" not in text  # renamed always_scrape_classic_histograms
    for alerting in (config.get("alerting") or {}).get("alertmanagers", []):
        assert alerting.get("api_version", "v2") != "v1"  # v1 is gone in 3.0
    assert "external_labels" not in config.get("global", {})  # now expanded from $VARS
    for job in config["scrape_configs"]:
        for group in job.get("static_configs", []):
            for target in group["targets"]:
                # no default port is added any more: every target names its port
                assert re.fullmatch(r"[\w.-]+:\d+", target), (job["job_name"], target)


def test_the_dashboard_queries_mean_the_same_under_prometheus_3() -> None:
    for where, expr in grafana_files.queries("prometheus"):
        assert "holt_winters" not in expr, where  # renamed, behind a feature flag
        # `le` and `quantile` values are floats now (le="1.0"): an integer one matches nothing
        assert not re.search(r'\b(le|quantile)\s*=~?\s*"\d+"', expr), where
        # range selectors are left-open: a subquery as long as its step has one point
        for window, step in re.findall(r"\[(\d+[smh]):(\d+[smh])\]", expr):
            assert window != step, where


def test_the_demo_backend_s_metrics_are_scraped_without_a_fallback_protocol() -> None:
    """Prometheus 3 fails a scrape whose Content-Type is missing or unknown (no more text
    fallback): the demo backend's must be the text format's."""
    spec = importlib.util.spec_from_file_location("neotool_mini_backend",
                                                  grafana_files.DEMO_BACKEND)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    status, _, content_type = module.Handler.route(None, "GET", "/metrics")
    assert status == 200
    media, _, params = content_type.partition(";")
    assert media.strip() == "text/plain" and params.replace(" ", "") == "version=0.0.4"


def _workspace(tmp_path: Path) -> Path:
    import shutil

    root = tmp_path / "ws"
    for name in ("profiles", "compose", "examples"):
        shutil.copytree(REPO_ROOT / name, root / name, ignore=shutil.ignore_patterns("k8s"))
    return root

"""The shipped compose stack, its side files, .env.example and the three profiles."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from neodev.config.envfile import read_env_file
from neodev.config.loader import available_profiles, load_plan
from neodev.config.model import Probe

ROOT = Path(__file__).resolve().parent.parent.parent
COMPOSE = ROOT / "compose"
STACK = COMPOSE / "docker-compose.local.yml"
ENVIRON = {"POSTGRES_PASSWORD": "pw-for-tests", "GRAFANA_ADMIN_PASSWORD": "gf-for-tests"}
IMAGE_VARIABLES = {"postgres": "NEODEV_POSTGRES_IMAGE", "prometheus": "NEODEV_PROMETHEUS_IMAGE",
                   "grafana": "NEODEV_GRAFANA_IMAGE", "loki": "NEODEV_LOKI_IMAGE"}


def _raw() -> dict:
    return yaml.safe_load(STACK.read_text())


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A copy of the shipped workspace files, so a developer's own .env or .neodev/ cannot
    change what these tests see."""
    root = tmp_path / "ws"
    for name in ("profiles", "compose", "examples"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("k8s"))
    shutil.copy(ROOT / ".env.example", root / ".env.example")
    return root


def test_every_profile_loads_with_a_minimal_environment(ws: Path) -> None:
    # No .env, nothing generated yet: only the two required secrets are set.
    assert available_profiles(ws) == ["local", "prod", "staging"]
    for name in ("local", "staging", "prod"):
        plan = load_plan(ws, name, ENVIRON)
        assert plan.project == "neotool"
    local = load_plan(ws, "local", ENVIRON)
    assert set(local.containers) == {"postgres", "prometheus", "grafana", "loki"}
    assert set(local.processes) == {"backend", "frontend", "router"}


def test_local_profile_follows_the_team_conventions(ws: Path) -> None:
    plan = load_plan(ws, "local", {**ENVIRON, "NEOTOOL_ROOT": "./examples/neotool-mini"})
    root = ws / "examples" / "neotool-mini"
    backend, frontend, router = (plan.processes[n] for n in ("backend", "frontend", "router"))
    assert (backend.cwd, backend.command, backend.port) == (root / "backend",
                                                            ("./gradlew", "run"), 8080)
    assert backend.readiness is not None and backend.readiness.url == \
        "http://127.0.0.1:8080/health"
    assert backend.watch == ("src/**",) and backend.reload == "restart"
    assert [(d.service, d.condition.value) for d in backend.depends_on] == [
        ("postgres", "healthy")]
    assert "@{postgres:5432}" in backend.env["DATABASE_URL"]
    assert backend.env["DB_PASSWORD"] == "pw-for-tests"
    assert (frontend.command, frontend.port, frontend.reload) == (("npm", "run", "dev"), 3000,
                                                                  "restart")
    assert frontend.watch == ("package.json", "next.config.*")
    assert [(d.service, d.condition.value) for d in frontend.depends_on] == [
        ("router", "started")]
    assert router.command == ("./router", "--config", "router.yaml")
    assert router.readiness is not None and router.readiness.url == \
        "http://127.0.0.1:8088/health"
    assert [(d.service, d.condition.value) for d in router.depends_on] == [
        ("backend", "healthy")]
    for name, variable in IMAGE_VARIABLES.items():
        container = plan.containers[name]
        assert container.image_variable == variable
        assert container.readiness == Probe(kind="docker")
    assert plan.volumes == ("neotool_postgres-data", "neotool_prometheus-data",
                            "neotool_loki-data", "neotool_grafana-data")


def test_relative_neotool_root_resolves_against_the_workspace(
        ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the current directory must not matter
    plan = load_plan(ws, "local", {**ENVIRON, "NEOTOOL_ROOT": "./examples/neotool-mini"})
    assert plan.variables["NEOTOOL_ROOT"] == str(ws / "examples" / "neotool-mini")
    assert plan.warnings == ()


def test_image_variables_override_the_images(ws: Path) -> None:
    env = {**ENVIRON, "NEODEV_POSTGRES_IMAGE": "neodev-test/postgres:15",
           "NEODEV_PROMETHEUS_IMAGE": "neodev-test/prometheus:2.42"}
    plan = load_plan(ws, "local", env)
    assert plan.containers["postgres"].image == "neodev-test/postgres:15"
    assert plan.containers["prometheus"].image == "neodev-test/prometheus:2.42"
    assert plan.containers["grafana"].image.startswith("grafana/grafana:")


def test_cluster_profiles(ws: Path) -> None:
    staging = load_plan(ws, "staging", ENVIRON).cluster
    prod = load_plan(ws, "prod", ENVIRON).cluster
    assert staging is not None and prod is not None
    assert (staging.environment, staging.workers, staging.app_namespace) == (
        "staging", 1, "neotool-staging")
    assert (prod.environment, prod.workers, prod.app_namespace) == ("prod", 2, "neotool-prod")
    assert staging.overlay == ws / "profiles" / "k8s" / "overlays" / "staging"
    assert prod.overlay == ws / "profiles" / "k8s" / "overlays" / "prod"
    assert staging.cluster_name == "neodev-staging" and prod.cluster_name == "neodev-prod"


def test_compose_file_shape_for_plain_docker_compose() -> None:
    raw = _raw()
    assert set(raw) == {"name", "services", "volumes"}
    assert set(raw["services"]) == set(IMAGE_VARIABLES)
    for name, service in raw["services"].items():
        assert re.fullmatch(r"\$\{" + IMAGE_VARIABLES[name] + r":-[^}]+\}", service["image"])
        assert "healthcheck" in service, name
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith("."):
                assert source in raw["volumes"], (name, volume)
            elif source.startswith("../.neodev/"):
                # run-time state written by neodev, untracked: the targets directory only
                assert (name, source) == ("prometheus", "../.neodev/prometheus/targets")
            else:
                assert (COMPOSE / source).exists(), (name, volume)
    postgres = raw["services"]["postgres"]
    assert "postgres-data:/var/lib/postgresql" in postgres["volumes"]
    assert postgres["image"].endswith(":-postgres:18-alpine}")
    assert postgres["environment"]["POSTGRES_DB"] == "${POSTGRES_DB:-neotool_dev}"
    assert "pg_isready -h 127.0.0.1" in postgres["healthcheck"]["test"][1]
    prometheus = raw["services"]["prometheus"]
    assert "host.docker.internal:host-gateway" in prometheus["extra_hosts"]
    assert {"--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
            "--web.enable-lifecycle"} <= set(prometheus["command"])
    assert raw["services"]["grafana"]["ports"] == ["127.0.0.1:3001:3000"]


def test_no_literal_passwords() -> None:
    raw = _raw()
    for service in raw["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key:
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", value), (key, value)


def test_prometheus_config_reads_file_sd_and_keeps_static_defaults() -> None:
    config = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"prometheus", "neodev"}
    assert jobs["prometheus"]["static_configs"][0]["targets"] == ["127.0.0.1:9090"]
    neodev = jobs["neodev"]
    # neodev's targets: every *.json of the mounted directory
    mounts = dict(v.split(":")[:2] for v in _raw()["services"]["prometheus"]["volumes"])
    (sd,) = neodev["file_sd_configs"]
    assert sd["files"] == [mounts["../.neodev/prometheus/targets"] + "/*.json"]
    # plain `docker compose`: the apps run by hand on their usual ports are still scraped
    static = {s["targets"][0]: s["labels"]["unit"] for s in neodev["static_configs"]}
    assert static == {"host.docker.internal:8080": "backend",
                      "host.docker.internal:9088": "router"}


def test_loki_config_shape() -> None:
    config = yaml.safe_load((COMPOSE / "loki-config.yml").read_text())
    assert config["server"]["http_listen_port"] == 3100
    assert config["auth_enabled"] is False
    assert config["schema_config"]["configs"][0]["store"] == "tsdb"
    assert config["common"]["path_prefix"] == "/loki"  # the loki-data volume
    assert "/loki" in [v.split(":")[1] for v in _raw()["services"]["loki"]["volumes"]]


def test_env_example(ws: Path) -> None:
    env = read_env_file(ROOT / ".env.example")
    assert env["NEOTOOL_ROOT"] == "./examples/neotool-mini"
    assert env["POSTGRES_DB"] == "neotool_dev"
    assert "POSTGRES_PASSWORD" not in env and "GRAFANA_ADMIN_PASSWORD" not in env
    text = (ROOT / ".env.example").read_text()
    for variable in IMAGE_VARIABLES.values():
        assert re.search(rf"^# {variable}=", text, re.MULTILINE), variable
    assert "# NEODEV_POSTGRES_IMAGE=neodev-test/postgres:15" in text
    # the shipped example plus the generated secrets give a loadable local profile
    plan = load_plan(ws, "local", {**env, **ENVIRON})
    assert plan.processes["backend"].cwd == ws / "examples" / "neotool-mini" / "backend"


class _Ready(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/-/ready" else 503)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def ready_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_prometheus_healthcheck_fallback_works_without_wget(ready_server: int) -> None:
    # The Debian-based test image may lack wget: the bash /dev/tcp branch must work alone.
    test = _raw()["services"]["prometheus"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    fallback = test[1].split(" || ", 1)[1].replace("9090", str(ready_server))
    ok = subprocess.run(["sh", "-c", fallback], timeout=10, check=False)
    assert ok.returncode == 0
    not_ready = fallback.replace("/-/ready", "/-/not-ready")
    assert subprocess.run(["sh", "-c", not_ready], timeout=10, check=False).returncode != 0

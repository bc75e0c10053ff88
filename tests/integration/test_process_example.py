"""The example workspace run through the process driver: three real apps, and a hot reload."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import httpx

from neodev.config.model import Probe, ProcessSpec
from neodev.engine.engine import Engine
from neodev.process.pids import PidRegistry
from neodev.process.runner import ProcessRunner
from neodev.process.watcher import FileWatcher
from neodev.protocol import Health
from tests.ports import free_port
from tests.waiting import until_async

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "neotool-mini"
BIND = {"NEODEV_BIND_HOSTS": "127.0.0.1", "HOST": "127.0.0.1"}


async def test_example_apps_chain_and_backend_hot_reload(tmp_path: Path) -> None:
    ws = tmp_path / "neotool-mini"
    shutil.copytree(EXAMPLE, ws)
    backend_port, router_port, health_port, frontend_port = (free_port() for _ in range(4))
    (ws / "router" / "router.yaml").write_text(
        f"supergraph:\n  listen: 127.0.0.1:{router_port}\n  path: /graphql\n"
        f"health_check:\n  listen: 127.0.0.1:{health_port}\n  path: /health\n"
        f"override_subgraph_url:\n  backend: http://127.0.0.1:{backend_port}/graphql\n")
    registry = PidRegistry(tmp_path / "pids.json")
    specs = [
        ProcessSpec(name="backend", cwd=ws / "backend", command=("./gradlew", "run"),
                    env={"PORT": str(backend_port), "NEODEV_PYTHON": sys.executable,
                         "DB_PORT": str(free_port())},
                    readiness=Probe(kind="http", interval=0.1, start_period=15,
                                    url=f"http://127.0.0.1:{backend_port}/health/liveness"),
                    watch=("src/**",), debounce_ms=100),
        ProcessSpec(name="router", cwd=ws / "router", command=("./router", "--config",
                                                               "router.yaml"),
                    readiness=Probe(kind="http", url=f"http://127.0.0.1:{health_port}/health")),
        ProcessSpec(name="frontend", cwd=ws / "frontend", command=("npm", "run", "dev"),
                    env={"PORT": str(frontend_port),
                         "ROUTER_URL": f"http://127.0.0.1:{router_port}/graphql"},
                    readiness=Probe(kind="log", pattern=r"started server on")),
    ]
    runners = {s.name: ProcessRunner(s, lambda *a: None, registry, bind=BIND) for s in specs}
    client = httpx.Client(trust_env=False, timeout=5)
    watcher: FileWatcher | None = None
    engine: Engine | None = None
    try:
        for runner in runners.values():
            await runner.start()
            await until_async(runner.health, f"{runner.name} healthy", 15,
                              ok=lambda report: report.health is Health.HEALTHY, interval=0.1)
        backend = f"http://127.0.0.1:{backend_port}"
        response = client.get(f"{backend}/health")
        assert response.status_code == 503 and "DOWN" in response.text  # no database here
        graphql = client.post(f"http://127.0.0.1:{frontend_port}/graphql",
                              json={"query": "{ version }"})
        assert graphql.json() == {"data": {"version": "v1"}}  # frontend -> router -> backend
        metrics = client.get(f"{backend}/metrics").text
        assert 'http_requests_total{method="POST",path="/graphql",status="200"} 1' in metrics
        assert "http_request_duration_seconds_bucket{le=\"+Inf\"}" in metrics

        # Hot reload: watcher -> Engine.reload (build, restart, ready), as the daemon wires it.
        engine = Engine({"backend": specs[0]}, {"backend": runners["backend"]})
        await runners["backend"].stop(5.0)  # from here on the engine supervises it
        await engine.start()
        assert all(v.ok for v in await engine.wait_ready(["backend"], 15))
        reloads: list[list[str]] = []

        async def on_change(paths: list[str]) -> None:
            reloads.append(paths)
            await engine.reload("backend", paths)

        watcher = FileWatcher(specs[0], on_change)
        watcher.start()
        await asyncio.wait_for(watcher.ready.wait(), 5)
        app = ws / "backend" / "src" / "app.py"
        app.write_text(app.read_text().replace('VERSION = "v1"', 'VERSION = "v2"'))
        await until_async(lambda: client.get(f"{backend}/version").text, "v2 served", 15,
                          ok=lambda text: text == "v2", retry_on=(httpx.HTTPError,))
        assert reloads == [["src/app.py"]]
        (ws / "backend" / "node_modules").mkdir()
        (ws / "backend" / "node_modules" / "x.js").write_text("ignored: not under src/")
        await asyncio.sleep(0.5)
        assert len(reloads) == 1
        assert engine.reloads.completed["backend"] == 1
    finally:
        client.close()
        if watcher is not None:
            await watcher.stop()
        if engine is not None:
            await engine.stop()
        for runner in runners.values():
            await runner.stop(3.0)
    assert registry.load() == {}

"""Logs reach Loki from the daemon without anyone configuring it: every kept line, masked,
labelled with project, unit, kind and stream, the level as structured metadata.

Loki cannot run here: the receiver is the STAND-IN of tests/loki_standin.py (it checks every
request against Loki's documented push format; it is not Loki). The environment is the real
daemon `Environment` with scripted runners; the Loki unit is a container in the plan whose
published port is the stand-in's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from neodev.config.model import ContainerSpec, PortMapping
from neodev.daemon.api import status_document
from neodev.daemon.environment import Environment
from neodev.engine.runner import LogSink, Runner
from neodev.paths import WorkspacePaths
from tests.api.scripted import plan_of, process
from tests.loki_standin import LokiStandIn
from tests.supervisor.fakes import FakeRunner
from tests.waiting import until_async


@pytest.fixture
def loki() -> Iterator[LokiStandIn]:
    with LokiStandIn() as standin:
        yield standin
        assert standin.violations == []


async def test_every_kept_line_is_shipped_masked_with_few_labels(tmp_path: Path,
                                                                 loki: LokiStandIn) -> None:
    loki_unit = ContainerSpec(name="loki", service="loki", image="grafana/loki:3.7.2",
                              ports=(PortMapping(container_port=3100, host_port=loki.port),))
    base = plan_of(tmp_path, process("api", tmp_path, env={"API_TOKEN": "tok-123456"}),
                   variables={"API_TOKEN": "tok-123456"})
    plan = base.model_copy(update={"containers": {"loki": loki_unit}})

    def factory(spec, sink: LogSink) -> Runner:  # type: ignore[no-untyped-def]
        runner = FakeRunner(spec.name)
        runner.sink = sink
        return runner

    env = Environment(plan, WorkspacePaths(tmp_path), runner_factory=factory)
    await env.open()
    try:
        env.logs.append("api", "GET /items 200 token=tok-123456", "stdout", time.time())
        env.logs.append("api", "ERROR database is gone", "stderr", time.time())
        await until_async(lambda: [v for p in loki.pushes for s in p.streams for v in s["values"]],
                          "both lines at the stand-in", 10, ok=lambda values: len(values) >= 2)
        streams = [s for p in loki.pushes for s in p.streams]
        labels = [s["stream"] for s in streams]
        assert {tuple(sorted(lab)) for lab in labels} == {("kind", "project", "stream", "unit")}
        assert {lab["stream"] for lab in labels} == {"stdout", "stderr"}
        assert all(lab["project"] == "apitest" and lab["unit"] == "api" for lab in labels)
        values = [v for s in streams for v in s["values"]]
        lines = [v[1] for v in values]
        assert "GET /items 200 token=********" in lines  # masked before it left the daemon
        assert not any("tok-123456" in line for line in lines)
        assert ["ERROR database is gone", {"level": "error"}] in [v[1:] for v in values]
        shipper = status_document(env).telemetry.shipper
        assert shipper is not None
        assert shipper.sent >= 2 and shipper.state in ("idle", "shipping")
        assert status_document(env).telemetry.urls["loki"] == loki.url
    finally:
        await env.close()

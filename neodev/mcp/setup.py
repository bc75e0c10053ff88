"""The configuration an MCP client reads to start `neodev mcp` (`neodev mcp --print-config`).

The `.mcp.json` shape (Claude Code, Cursor, the MCP Inspector's `--config`; Claude Desktop's
`mcpServers` is the same): the server is this interpreter running `-m neodev mcp`, pinned to
this workspace by `NEODEV_WORKSPACE`, so it works whatever directory the client starts it in
and whichever `neodev` is on the PATH. Paths are absolute: generate it in each checkout.
"""

from __future__ import annotations

import sys

from neodev.jsontypes import JsonObject
from neodev.paths import WorkspacePaths

SERVER_NAME = "neodev"


def client_config(paths: WorkspacePaths, *, profile: str | None = None,
                  read_only: bool = False) -> JsonObject:
    """`{"mcpServers": {"neodev": {command, args, env}}}` for this workspace."""
    args = ["-m", "neodev", "mcp"]
    if profile:
        args += ["--profile", profile]
    if read_only:
        args.append("--read-only")
    return {"mcpServers": {SERVER_NAME: {
        "command": sys.executable, "args": args,
        "env": {"NEODEV_WORKSPACE": str(paths.root)}}}}

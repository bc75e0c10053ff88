"""The agent server: `neodev mcp`, a Model Context Protocol server over the workspace's daemon.

A frontend like the CLI and the dashboard: it reaches the daemon only through `neodev.client`
and hands coding agents the same records every other client reads, as typed, schema-described
tool results. It is scoped to one instance (today: the workspace it starts in), masks every
secret value in what it returns, and spawns a daemon only when a tool needs one (`start`).

- `scope.py`: which instance the server serves (where `--instance` will plug in);
- `context.py`: what a tool reaches — the daemon's client, spawning, the masker, reloads;
- `masking.py`: the last guard on everything the server hands out;
- `reloads.py`: which units are in the middle of a hot reload (from the event stream);
- `results.py`: the records of the tools whose answer is not one daemon record;
- `read_tools.py`, `action_tools.py`: the tools, plain typed functions over the context;
- `registry.py`: the tool table with MCP's annotations, and its adaption to the SDK;
- `server.py`: the server over stdio; `setup.py`: the client configuration snippet.

Only `registry.py` and `server.py` import the `mcp` SDK (an import-linter contract says nothing
outside this package does), so this package's `__init__` loads nothing heavy.
"""

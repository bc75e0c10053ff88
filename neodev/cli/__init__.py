"""The headless commands: parse, ask the daemon, print (text or --json), exit with a code.

One module per family of commands — `units` (start, stop, status, logs, ...; `waiting`: the
verdict of `start --wait`), `db`, `cluster`, `machine` (config, doctor), `instances` (every
instance of the machine), `report` (report, open-report), `agents` (`mcp`, the server for
coding agents) — over the shared `common` (the group, the workspace, errors and exit codes) and
`render` (text for people). A command's module is imported when the command is looked up
(`COMMAND_MODULES`), so `neodev status` loads neither the reports nor the cluster. Every
command reaches the daemon through `neodev.client` only (`instances` also looks at the
machine through `neodev.inventory`, like `doctor`).
"""

from neodev.cli.common import COMMAND_MODULES, main

__all__ = ["COMMAND_MODULES", "main"]

"""The headless commands: parse, ask the daemon, print (text or --json), exit with a code.

One module per family of commands — `units` (start, stop, status, logs, ...), `db`,
`cluster`, `machine` (config, doctor), `instances` (every instance of the machine) — over the
shared `common` (the group, the workspace, errors and exit codes) and `render` (text for
people). Every command reaches the daemon through `neodev.client` only (`instances` also looks
at the machine through `neodev.inventory`, like `doctor`).
"""

from neodev.cli import cluster, db, instances, machine, units
from neodev.cli.common import main

__all__ = ["cluster", "db", "instances", "machine", "main", "units"]

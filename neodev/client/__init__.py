"""Everything that talks to the daemon: find it, spawn it, call it, read typed records back.

Every client of the daemon — the CLI, the dashboard, the agent server, the report viewer —
goes through this package and nothing else of the server's (an import-linter contract says
so): `calls` builds each request of the one endpoint table (`neodev.protocol.endpoints`),
`DaemonClient` (standard library, for the short commands) and `neodev.client.aio`'s
`AsyncDaemonClient` (httpx) execute them, and the answers are `neodev.protocol` records, never
dicts. `discovery` finds a running daemon (the lock is the authority), `spawn` validates a
profile and starts one.

The asyncio client is not imported here: importing httpx costs a short command 100 ms.
"""

from neodev.client import calls
from neodev.client.discovery import find_daemon, last_project, running_client, wait_for_exit
from neodev.client.spawn import Launched, ensure_daemon, load_validated, teardown_daemon
from neodev.client.sync import DaemonClient
from neodev.client.wire import Connection
from neodev.rendezvous import DaemonInfo, read_info

__all__ = [
    "Connection", "DaemonClient", "DaemonInfo", "Launched", "calls", "ensure_daemon",
    "find_daemon", "last_project", "load_validated", "read_info", "running_client",
    "teardown_daemon", "wait_for_exit",
]

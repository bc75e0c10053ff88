"""The workspace daemon: environment, API, server, and the clients that talk to it."""

import sys

# httpx imports its command-line client (`httpx._main`) whenever click, rich and pygments are
# installed, as they always are with neodev (textual brings rich and pygments): ~70 modules,
# 3 MiB of the idle daemon's RSS (51.7 -> 48.5 MiB, benchmarks/daemon_idle.py) and ~30 ms of
# its start-up, for an `httpx.main` nothing here calls. A None entry in sys.modules makes that
# one import fail, so httpx defines its stub `main` instead (the import system's documented
# blocker, which typeshed does not admit). Set here, before any module of the daemon imports
# httpx.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

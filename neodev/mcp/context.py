"""What every tool of the agent server reaches: the scope's daemon, the masker, the reloads.

The daemon is found the way every client finds it (`neodev.client.find_daemon`: its lock is
the authority) and spoken to with the asyncio client; only `spawn` starts one, validating the
profile first as `neodev start` does. No tool is given a path or a socket: everything goes to
the scope's instance.
"""

from __future__ import annotations

import asyncio
import contextlib

from neodev.client import DaemonInfo, Launched, ensure_daemon, find_daemon
from neodev.client.aio import AsyncDaemonClient
from neodev.errors import DaemonError, NeodevError
from neodev.mcp.masking import Masker
from neodev.mcp.reloads import ReloadWatch
from neodev.mcp.scope import Scope

FOLLOW_TIMEOUT = 3.0
"""Seconds an answer waits for the reload events of a running daemon to be followed (the
follower retries a lost daemon at most 2 s apart)."""


class AgentContext:
    """The server's one connection to its instance.

    Args:
        scope: The instance served.
        masker: The guard on every answer (default: one reading the scope's plan).
    """

    def __init__(self, scope: Scope, masker: Masker | None = None) -> None:
        self.scope = scope
        self.masker = masker or Masker(scope)
        self.reloads = ReloadWatch()
        self.daemon = AsyncDaemonClient(scope.paths.socket)
        """The client of the scope's socket (the same path for every daemon of the instance;
        it answers only while one runs)."""
        self._learning: asyncio.Future[None] | None = None

    def running(self) -> DaemonInfo | None:
        """The instance's running daemon, or None (cheap: a file read and a lock probe)."""
        return find_daemon(self.scope.paths)

    async def client(self) -> AsyncDaemonClient:
        """The running daemon's client.

        Raises:
            DaemonError: no environment runs in this instance (says to call `start`).
        """
        if self.running() is None:
            raise DaemonError(f"no neodev environment is running in {self.scope.workspace} "
                              "(the `start` tool starts one)")
        return self.daemon

    async def spawn(self) -> Launched:
        """The running daemon, or a new one on the scope's profile (validated first).

        Raises:
            ConfigError: the profile does not load (nothing was started).
            DaemonError: a daemon of another profile runs, or the new one did not come up.
        """
        try:
            launched = await asyncio.to_thread(ensure_daemon, self.scope.paths,
                                               self.scope.profile)
        except NeodevError:
            # It may have generated secrets before failing, and its error may quote the new
            # daemon's log: learn their values before the error is answered.
            await asyncio.to_thread(self.masker.learn)
            raise
        if launched.fresh:  # it may have generated secrets: learn their values before answering
            await asyncio.to_thread(self.masker.learn, launched.info.profile)
        return launched

    async def ready(self) -> None:
        """What every answer waits for: the plan's secrets known, and the reload events of a
        running daemon followed (so a reload that begins after this call is never missed)."""
        await self.secrets_known()
        if not self.reloads.connected.is_set() and self.running() is not None:
            with contextlib.suppress(TimeoutError):  # then wait_ready knows less, nothing more
                await asyncio.wait_for(self.reloads.connected.wait(), FOLLOW_TIMEOUT)

    async def secrets_known(self) -> None:
        """Learn the secret values of the plan once (the server starts this at once; the first
        answer waits for it, so no answer leaves before the masker knows them)."""
        if self._learning is None:
            self._learning = asyncio.ensure_future(self._learn_secrets())
        await asyncio.shield(self._learning)

    async def _learn_secrets(self) -> None:
        info = self.running()  # a running daemon's profile may differ from the scope's
        await asyncio.to_thread(self.masker.learn, info.profile if info else None)

    async def aclose(self) -> None:
        await self.daemon.aclose()

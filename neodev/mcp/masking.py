"""The last guard on everything the agent server hands out: results and errors, masked.

The daemon masks at the source (every log line in its `LogStore`, every spec through
`neodev.config.display`), but the server also says things of its own: errors raised on this
side (a profile that does not load, a daemon that did not come up, with the tail of its log),
the plan's warnings when it spawns a daemon, reasons and details the daemon copied from a
program's output. So every string of every answer passes through the same masking every other
output uses (`neodev.config.display.mask_text`: URL passwords, and the values of the plan's
secret variables wherever they appear), with the secret values of this instance's plan.

The plan is read when the server starts and again after it starts a daemon (which may have
generated secrets); while it cannot be read (a missing secret, a broken profile) URL passwords
are still masked, and the values learnt before are kept: masking more is never wrong here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from neodev.config.display import mask_text
from neodev.errors import NeodevError
from neodev.mcp.scope import Scope


class Masker:
    """Masks secret values in text and in JSON-able data.

    Args:
        scope: The instance whose plan holds the secret values.
        environ: The environment the plan is read with (default: this process's).
    """

    def __init__(self, scope: Scope, environ: Mapping[str, str] | None = None) -> None:
        self._scope = scope
        self._environ = environ
        self._secrets: list[str] = []
        self.unreadable: str | None = None
        """Why the plan could not be read the last time (then only URL passwords and the
        values learnt before are masked); None once it was read."""

    @property
    def known(self) -> int:
        """How many secret values are masked (for tests and diagnostics)."""
        return len(self._secrets)

    def learn(self, profile: str | None = None) -> None:
        """Read the secret values of the plan of `profile` (default: the scope's).

        Blocking (it reads and resolves the profile): run it in a worker thread.
        """
        from neodev.config.display import secret_values
        from neodev.config.loader import load_plan

        environ = dict(os.environ if self._environ is None else self._environ)
        try:
            plan = load_plan(self._scope.paths.root, profile or self._scope.profile, environ)
        except NeodevError as error:
            self.unreadable = error.title
            return
        self.unreadable = None
        learnt = set(self._secrets) | set(secret_values(plan))
        self._secrets = sorted(learnt, key=len, reverse=True)  # one assignment: thread-safe

    def text(self, value: str) -> str:
        return mask_text(value, self._secrets)

    def data(self, value: Any) -> Any:
        """`value` (JSON-able: dicts, lists, strings, numbers) with every string masked."""
        if isinstance(value, str):
            return mask_text(value, self._secrets)
        if isinstance(value, dict):
            return {key: self.data(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.data(item) for item in value]
        return value

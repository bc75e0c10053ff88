"""Coalescing of reload requests: at most one reload running, and at most one more queued.

A pure state machine the engine can use around its reload flow (build, stop, start):

    if coalescer.submit(paths):          # True -> nothing running: reload now
        files = coalescer.begin()
        while files is not None:
            await reload(files)
            files = coalescer.finish()   # paths that arrived meanwhile, or None

Any number of batches that arrive while a reload runs become exactly one more reload, with the
union of their paths as its cause.
"""

from __future__ import annotations


class ReloadCoalescer:
    """Tracks whether a reload runs and which paths changed since it began."""

    def __init__(self) -> None:
        self.running = False
        self._pending: set[str] = set()

    @property
    def pending(self) -> list[str]:
        """Paths waiting for the next reload, sorted."""
        return sorted(self._pending)

    def submit(self, paths: list[str]) -> bool:
        """Record a batch of changed paths.

        Returns:
            True when no reload is running and the caller should start one (`begin`);
            False when the paths were queued for the reload after the current one.
        """
        self._pending.update(paths)
        return not self.running and bool(self._pending)

    def begin(self) -> list[str]:
        """Start a reload: returns (and clears) the paths it covers."""
        self.running = True
        files, self._pending = sorted(self._pending), set()
        return files

    def finish(self) -> list[str] | None:
        """The running reload ended.

        Returns:
            The paths for exactly one more reload (already begun) when changes arrived in
            the meantime, else None (and nothing runs any more).
        """
        if self._pending:
            return self.begin()
        self.running = False
        return None

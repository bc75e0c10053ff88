"""Which neodev instance the agent server serves, decided once when it starts.

An instance is a workspace (`neodev.paths.find_workspace`: `$NEODEV_WORKSPACE`, else the
nearest directory with `profiles/`; the global `neodev --instance NAME` resolves a recorded
instance to its workspace before the server starts), and the server serves the one it starts
in. Nothing else in the server knows where the daemon lives: every tool reaches it through the
scope's paths, so nothing outside the instance is reachable; the `instances` tool only reads
the machine's list (`neodev.overview`).
"""

from __future__ import annotations

from dataclasses import dataclass

from neodev.paths import WorkspacePaths, find_workspace


@dataclass(frozen=True)
class Scope:
    """The instance one agent server is bound to."""

    paths: WorkspacePaths
    profile: str
    """The profile `start` runs when no daemon runs yet (a running daemon keeps its own)."""

    @classmethod
    def of_workspace(cls, profile: str, paths: WorkspacePaths | None = None) -> Scope:
        """The instance of the workspace the server starts in (or `paths`)."""
        return cls(paths or WorkspacePaths(find_workspace()), profile)

    @property
    def workspace(self) -> str:
        return str(self.paths.root)

"""What the plugin was asked to do, and the plan it does it with.

The plan is the dev environment's own: the workspace is found as the CLI finds it
(`NEODEV_WORKSPACE`, else the nearest directory upward with `profiles/`) and loaded with the
same loader, so a test's Postgres has the dev environment's image, environment, healthcheck
and everything else the compose file says.

Secrets: generated values in `.neodev/secrets.env` are read by the loader as usual. A secret the
profile lists that no layer sets gets a *throwaway* value for this test run only, instead of
`prepare_secrets` writing a permanent one into the developer's `.neodev/`: the test containers
start from empty volumes, so any password works; a test run should not change the workspace
(CI checkouts may even be read-only); and a value that dies with the run cannot leak into
anything that lasts. Attach mode is the exception: it needs the dev server's real password.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from neodev.config.loader import load_plan
from neodev.config.model import EnvironmentPlan
from neodev.config.secrets import generate_secret, missing_secrets

DEFAULT_PROFILE = "local"
DEFAULT_STARTUP_TIMEOUT = 120.0
DEFAULT_PULL_TIMEOUT = 60.0
DEFAULT_LOG_LINES = 50
DEFAULT_HEALTH_INTERVAL = 0.5
ENGINE_PROBE_TIMEOUT = 5
"""Seconds the first request to the engine may take: an unreachable engine fails fast."""
DOCKER_TIMEOUT = 60
"""Seconds any later engine request may take (docker-py's default)."""


@dataclass(frozen=True)
class Settings:
    """The plugin's options, resolved (command line > ini file > defaults)."""

    workspace: Path
    profile: str = DEFAULT_PROFILE
    attach: bool = False
    """Use the running dev environment's Postgres (a fresh database per session)."""
    migrate: tuple[str, ...] = ()
    """`neodev_migrate` ini entries: SQL files (relative to `rootdir`) or `module:function`."""
    rootdir: Path = field(default_factory=Path.cwd)
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT
    """Seconds a service may take to become healthy."""
    pull_timeout: float = DEFAULT_PULL_TIMEOUT
    """Seconds a missing image may take to pull before the run fails naming it."""
    log_lines: int = DEFAULT_LOG_LINES
    """Lines of each used service's log attached to a failing test's report."""
    health_interval: float = DEFAULT_HEALTH_INTERVAL
    """Cap on the healthcheck interval while a test waits for it (the check is unchanged)."""
    volumes: Literal["tmpfs", "anonymous"] = "tmpfs"
    """What replaces the profile's named volumes: memory (fast, nothing on disk) or labelled
    anonymous volumes removed with the container (for data bigger than memory)."""

    @property
    def lock_timeout(self) -> float:
        """How long a process waits for another one starting a service (pull + start)."""
        return self.pull_timeout + self.startup_timeout + 60.0


def load_test_plan(settings: Settings, environ: Mapping[str, str],
                   throwaway: Callable[[list[str]], dict[str, str]] | None = None
                   ) -> tuple[EnvironmentPlan, dict[str, str]]:
    """Load the profile's plan; secrets no layer sets get throwaway values.

    Args:
        settings: the plugin settings (workspace, profile).
        environ: the process environment.
        throwaway: given the missing secret names, returns their values (default: new
            random ones); the run passes values shared by all its xdist workers.

    Returns:
        (the plan, the throwaway secrets it was loaded with).

    Raises:
        ConfigError: the profile is invalid, with file, key and what would be valid.
    """
    missing = missing_secrets(settings.workspace, settings.profile, environ)
    values = (throwaway or _generate)(missing) if missing else {}
    plan = load_plan(settings.workspace, settings.profile, {**environ, **values})
    return plan, values


def _generate(names: list[str]) -> dict[str, str]:
    return {name: generate_secret() for name in names}

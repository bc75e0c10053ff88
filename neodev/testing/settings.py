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

`RunPlan` is the plan as one test run uses it: the run's own compose project and network
names, and the start order of the container services, computed once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from neodev.config.display import secret_values
from neodev.config.hints import did_you_mean
from neodev.config.loader import load_plan
from neodev.config.model import ContainerSpec, EnvironmentPlan
from neodev.config.postgres import find_postgres
from neodev.config.secrets import generate_secret, missing_secrets
from neodev.engine.graph import start_waves, with_dependencies
from neodev.errors import ServiceError

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
    postgres: str | None = None
    """`neodev_postgres`: the Postgres service the Postgres fixtures are about, for a profile
    with several (default: the profile's only one, found by its settings as `neodev db`
    finds it)."""
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

    def lock_timeout(self, services: int) -> float:
        """How long a process waits for the run lock: another process may hold it while it
        starts every one of the profile's `services` container services (pull + start)."""
        return (self.pull_timeout + self.startup_timeout) * max(1, services) + 60.0


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


@dataclass(frozen=True)
class RunPlan:
    """The profile's plan as one test run uses it (`of` makes one).

    The container services' start order is computed once, when the plan is loaded; the
    services one name needs are then that order, filtered (a dependency-closed subset keeps
    the waves' order), and kept per name.
    """

    plan: EnvironmentPlan
    throwaway: Mapping[str, str]
    """Secrets no layer sets, with the run's throwaway values."""
    project: str
    """The run's own compose project name: never the dev environment's."""
    order: tuple[str, ...]
    """Every container service of the profile, dependencies first."""
    _needs: dict[str, list[str]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, plan: EnvironmentPlan, throwaway: Mapping[str, str], session: str) -> RunPlan:
        return cls(plan, dict(throwaway), f"{plan.project}-pytest-{session}",
                   tuple(n for wave in start_waves(plan.containers) for n in wave))

    @property
    def network(self) -> str:
        return f"{self.project}_default"

    def secrets(self) -> list[str]:
        """Secret values to mask in anything shown (the plan's and the throwaway ones)."""
        found = set(secret_values(self.plan)) | set(self.throwaway.values())
        return sorted(found, key=len, reverse=True)

    def start_order(self, names: Iterable[str]) -> list[str]:
        """The container services to start for `names`, dependencies first.

        Process units (backend, frontend...) are not started by the plugin; a dependency on
        one is left out.

        Raises:
            ServiceError: a name is not a container service of the profile.
        """
        wanted: set[str] = set()
        for name in names:
            if name not in self._needs:
                self._needs[name] = self._needed_by(name)
            wanted.update(self._needs[name])
        return [n for n in self.order if n in wanted]

    def _needed_by(self, name: str) -> list[str]:
        plan = self.plan
        if name not in plan.containers:
            kind = "a process, not a container service" if name in plan.processes else (
                f"not a service of profile {plan.profile!r}{did_you_mean(name, plan.containers)}")
            raise ServiceError(f"{name!r} is {kind}; container services: "
                               f"{', '.join(plan.containers) or 'none'}")
        needed = with_dependencies(plan.units, [name])
        return [n for n in self.order if n in needed]

    def postgres(self, name: str | None) -> ContainerSpec:
        """The Postgres service the Postgres fixtures are about, found as `neodev db` finds it.

        Raises:
            ConfigError: `name` is not a Postgres service, or there is none, or several and
                `name` (ini `neodev_postgres`) says none.
        """
        return find_postgres(self.plan, name, choose_with="the ini option neodev_postgres")

"""Find the workspace's daemon, or validate the profile and spawn one: for the CLI and the TUI.

Validation happens here, in the client, while the daemon it spawned imports its modules: the
profile is read once, its missing secrets are generated into `.neodev/secrets.env`, the plan is
resolved (a ConfigError then ends the command with exit 2, and the waiting daemon, which
has touched nothing yet), and the daemon is handed that plan through its stdin instead of
reading the profile again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from neodev.daemon import lifecycle
from neodev.errors import DaemonError
from neodev.paths import WorkspacePaths

if TYPE_CHECKING:
    from neodev.config.model import EnvironmentPlan


@dataclass(frozen=True)
class Launched:
    """The daemon a command talks to, and what the person should be told about it."""

    info: lifecycle.DaemonInfo
    fresh: bool
    """Spawned by this call (rather than found running)."""
    warnings: tuple[str, ...] = ()
    """The plan's non-fatal findings (unset variables, missing directories...)."""
    generated: tuple[str, ...] = ()
    """Secrets generated now, into `secrets_file`."""
    secrets_file: Path | None = None

    @property
    def socket(self) -> Path:
        return Path(self.info.socket)


def load_validated(paths: WorkspacePaths, profile: str, environ: Mapping[str, str] | None = None
                   ) -> tuple[EnvironmentPlan, list[str], Path]:
    """Read the profile once: generate its missing secrets, then resolve the plan.

    Returns:
        (the plan, names of the secrets generated now, the secrets file).

    Raises:
        ConfigError: the profile, a compose file or `.env` is invalid.
    """
    from neodev.config.loader import load_plan, read_profile
    from neodev.configstate import prepare_secrets

    env = dict(os.environ if environ is None else environ)
    source = read_profile(paths.root, profile)
    generated, secrets_file = prepare_secrets(paths.root, profile, env, source)
    return load_plan(paths.root, profile, env, source=source), generated, secrets_file


def teardown_daemon(paths: WorkspacePaths, project: str) -> Launched:
    """A daemon that only tears down `project` (found by its label): `down` when the profile
    does not load any more."""
    child = lifecycle.spawn_daemon(paths, "(teardown)", teardown=project)
    return Launched(lifecycle.wait_for_daemon(paths, child), fresh=True)


def ensure_daemon(paths: WorkspacePaths, profile: str, *, validate: bool = True) -> Launched:
    """The running daemon of the workspace, or a new one (spawned with a validated plan).

    Args:
        paths: The workspace.
        profile: The profile to run (a running daemon must run the same one).
        validate: Validate the profile first (a spawn without it lets the daemon load the
            profile itself, as the cluster commands do for a daemon of the occasion).

    Raises:
        ConfigError: the profile is invalid (nothing was spawned).
        DaemonError: a daemon of another profile runs, or the new one did not come up.
    """
    info = lifecycle.find_daemon(paths)
    if info is not None:
        if info.profile != profile:
            raise DaemonError(f"the environment in {paths.root} runs profile {info.profile!r}; "
                              f"stop it first (`neodev stop`) to start {profile!r}")
        return Launched(info, fresh=False)
    if not validate:
        child = lifecycle.spawn_daemon(paths, profile)
        return Launched(lifecycle.wait_for_daemon(paths, child), True)
    # The daemon imports its modules (the longest part of its start) while we validate: two
    # processes, two cores. An invalid profile closes the pipe and ends the daemon unused.
    child = lifecycle.spawn_daemon(paths, profile, plan_on_stdin=True)
    try:
        plan, generated, secrets_file = load_validated(paths, profile)
    except BaseException:
        lifecycle.abandon(child)
        raise
    lifecycle.hand_over_plan(child, plan.model_dump_json())
    info = lifecycle.wait_for_daemon(paths, child)
    return Launched(info, True, plan.warnings, tuple(generated), secrets_file)

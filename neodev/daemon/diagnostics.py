"""`GET /v1/diagnostics`: what only the daemon can put in a report, every secret masked.

The plan it runs (as `neodev config` shows it), the engine's view of each container of the
project (`docker inspect`: its environment holds the secrets, so everything in it goes through
the plan's masking) and the tail of the daemon's own log. The rest of a report — status, unit
details, lines, events — comes from the ordinary endpoints; `doctor` runs in the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from neodev.config.display import mask_all, mask_text, plan_for_display, secret_values
from neodev.errors import DockerError
from neodev.jsontypes import JsonObject
from neodev.protocol.documents import ContainerView, Diagnostics

if TYPE_CHECKING:
    from docker import DockerClient

    from neodev.daemon.environment import Environment

DAEMON_LOG_BYTES = 256 * 1024
"""The end of the daemon's log a report holds."""


async def diagnostics(env: Environment) -> Diagnostics:
    secrets = secret_values(env.plan)
    containers: tuple[ContainerView, ...] = ()
    engine_error = None
    if env.plan.containers:
        try:
            found = await env.clients.call(f"inspect the containers of {env.plan.project}",
                                           lambda client: _inspect(client, env.plan.project))
            containers = tuple(ContainerView(name, unit, _masked(attrs, secrets))
                               for name, unit, attrs in found)
        except DockerError as exc:
            engine_error = exc.message
    log, cut = _log_tail(env.paths.daemon_log, DAEMON_LOG_BYTES)
    return Diagnostics(config=plan_for_display(env.plan), containers=containers,
                       engine_error=engine_error,
                       daemon_log=tuple(mask_text(line, secrets) for line in log),
                       daemon_log_cut=cut)


def _inspect(client: DockerClient, project: str) -> list[tuple[str, str | None, Any]]:
    """(name, service, inspect) of every container of the project, running or not."""
    from neodev.docker.labels import COMPOSE_PROJECT, COMPOSE_SERVICE

    return [(c.name, c.labels.get(COMPOSE_SERVICE), c.attrs) for c in client.containers.list(
        all=True, filters={"label": f"{COMPOSE_PROJECT}={project}"})]


def _masked(attrs: Any, secrets: list[str]) -> JsonObject:
    masked = mask_all(attrs, secrets)
    return masked if isinstance(masked, dict) else {}


def _log_tail(path: Path, limit: int) -> tuple[list[str], int]:
    """The last lines of `path` within `limit` bytes, and the bytes before them."""
    try:
        with path.open("rb") as file:
            size = file.seek(0, 2)
            start = max(size - limit, 0)
            file.seek(start)
            data = file.read()
    except OSError as exc:
        return [f"(the daemon's log cannot be read: {exc})"], 0
    if start:  # the first line is cut: leave it out, and count it as cut
        newline = data.find(b"\n")
        start, data = start + newline + 1, data[newline + 1:]
    return data.decode("utf-8", "replace").splitlines(), start

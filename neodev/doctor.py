"""`neodev doctor`: is this machine ready to run the environment, and if not, what to do.

Each check is one line, ok / warn / fail, with a fix hint. Only a fail makes the exit code
non-zero: a missing image (it would be pulled) or a missing kubectl is worth knowing but does not
stop a start. The checks read the machine; they start, stop and change nothing.

The Docker engine is reached the way the docker CLI does (DOCKER_HOST, else the current context,
else the default socket) and the line says which endpoint was used. An engine that is down
raises `DockerException` while the client is built and `requests.ConnectionError` on later calls
(reference §2): both become a fail line, never a traceback.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import requests
from docker import DockerClient
from docker.errors import DockerException, ImageNotFound

from neodev.cluster import tools as cluster_tools
from neodev.config.model import EnvironmentPlan, cwd_problem
from neodev.docker.client import (
    connect_from_env,
    docker_endpoint,
    engine_location,
    engine_unreachable,
    start_engine_hint,
)
from neodev.docker.project import published_host_ports
from neodev.instances.blocks import preview_ports
from neodev.paths import WorkspacePaths
from neodev.ports import PublishedPorts, check_claims, loopback_free, plan_claims
from neodev.process.pids import own_process_groups

Status = Literal["ok", "warn", "fail"]
DOCKER_TIMEOUT = 10
"""Seconds any one engine call may take: doctor must answer even when the engine hangs."""

Connect = Callable[[Mapping[str, str]], DockerClient]


def _connect(environ: Mapping[str, str]) -> DockerClient:
    return connect_from_env(environ, timeout=DOCKER_TIMEOUT)


@dataclass(frozen=True)
class Check:
    """The outcome of one check."""

    name: str
    """Short name of what was checked ("docker", "image", "port" ...)."""
    status: Status
    detail: str
    """What was found, naming the thing (image, port, path)."""
    hint: str = ""
    """How to fix it (empty when ok)."""

    def to_dict(self) -> dict[str, str]:
        """The check as data, for `--json` output."""
        return asdict(self)


def run_checks(plan: EnvironmentPlan | None, paths: WorkspacePaths,
               environ: Mapping[str, str] | None = None, *,
               connect: Connect | None = None) -> list[Check]:
    """Run every check and return one `Check` per line of the report.

    Args:
        plan: the resolved profile; None when it could not be loaded (the plan-dependent checks
            are then reported as not run).
        paths: the workspace (where `.env` is looked for).
        environ: the environment to read DOCKER_HOST and PATH from (default `os.environ`).
        connect: builds a docker client from an environment (default: like the docker CLI).

    Returns:
        The checks in report order.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    checks: list[Check] = []
    client, engine_check = _connect_engine(env, connect or _connect)
    checks.append(engine_check)
    try:
        if plan is None:
            checks.append(Check("profile", "warn", "no profile loaded: images, ports and process "
                                "directories not checked", "run `neodev config` to see why"))
        else:
            checks.extend(check_images(plan, client))
            # A checkout whose block of ports is allocated at its first start: the block it
            # would get, not the profile's ports (its first instance's).
            checks.extend(check_ports(preview_ports(paths, plan, loopback_free, env), client))
        checks.extend(check_tools(env))
        checks.append(check_env_file(plan, paths))
        if plan is not None:
            checks.extend(check_process_dirs(plan, env))
    finally:
        if client is not None:
            client.close()
    return checks


def _connect_engine(environ: Mapping[str, str],
                    connect: Connect) -> tuple[DockerClient | None, Check]:
    endpoint, _ = docker_endpoint(environ)
    hint = start_engine_hint(environ)
    socket_path = _unix_socket_path(endpoint)
    if socket_path is not None and not socket_path.exists():
        # Said plainly, and without letting docker-py try (it leaks the failed socket).
        cause = f"{socket_path} does not exist"
        return None, Check("docker", "fail", _unreachable(cause, environ), hint)
    try:
        client = connect(environ)
        version = client.version()
    except (DockerException, requests.exceptions.RequestException) as e:
        return None, Check("docker", "fail", _unreachable(e, environ), hint)
    detail = (f"Docker Engine {version.get('Version', '?')} "
              f"(API {version.get('ApiVersion', '?')}) at {engine_location(environ)}")
    return client, Check("docker", "ok", detail)


def _unreachable(cause: object, environ: Mapping[str, str]) -> str:
    """The shared wording, without the fix (doctor shows it as the hint)."""
    return engine_unreachable(cause, environ).message.partition(". To fix:")[0]


def _unix_socket_path(endpoint: str) -> Path | None:
    for scheme in ("unix://", "http+unix://"):
        if endpoint.startswith(scheme):
            return Path(endpoint[len(scheme):])
    return None


def check_images(plan: EnvironmentPlan, client: DockerClient | None) -> list[Check]:
    """One line per image of the plan: present locally, or would be pulled."""
    if not plan.containers:
        return []
    if client is None:
        return [Check("image", "warn", "images not checked: no Docker engine",
                      "see the docker line")]
    checks: list[Check] = []
    seen: set[str] = set()
    for spec in plan.containers.values():
        if spec.image in seen:
            continue
        seen.add(spec.image)
        try:
            client.images.get(spec.image)
        except ImageNotFound:
            override = f" (override with {spec.image_variable})" if spec.image_variable else ""
            hint = f"`docker pull {spec.image}`"
            if spec.image_variable:
                hint += f", or set {spec.image_variable}=<a local image> in .env"
            checks.append(Check("image", "warn", f"would be pulled: {spec.image}{override}", hint))
            continue
        except (DockerException, requests.exceptions.RequestException) as e:
            checks.append(Check("image", "warn", f"{spec.image}: cannot inspect: {_first_line(e)}",
                                "see the docker line"))
            continue
        checks.append(Check("image", "ok", f"{spec.service}: {spec.image} present"))
    return checks


def _published_ports(client: DockerClient | None) -> PublishedPorts:
    """(host port, protocol) -> (container name, compose project) for running containers."""
    if client is None:
        return {}
    try:
        # any container may be removed between Docker's list and inspect
        return published_host_ports(client.containers.list(ignore_removed=True))
    except (DockerException, requests.exceptions.RequestException):
        return {}  # the docker line already says the engine is in trouble


def check_ports(plan: EnvironmentPlan, client: DockerClient | None) -> list[Check]:
    """One line per address the plan publishes or listens on: free, ours, or whose (the same
    verdicts the daemon's pre-start check gives, from `neodev.ports`)."""
    claims = plan_claims(plan)
    by_port: dict[tuple[int, str], set[str]] = {}
    for claim in claims:
        by_port.setdefault((claim.port, claim.protocol), set()).add(claim.unit)
    checks: list[Check] = []
    own = own_process_groups(WorkspacePaths(plan.workspace).pids_file)
    for verdict in check_claims(claims, _published_ports(client), plan.project, own):
        claim = verdict.claim
        others = by_port[(claim.port, claim.protocol)] - {claim.unit}
        if others:
            checks.append(Check("port", "fail", f"{claim.label}: also wanted by "
                                f"{', '.join(sorted(others))}",
                                "give each unit its own port in the profile / compose file"))
        else:
            checks.append(Check("port", "ok" if verdict.ok else "fail", verdict.problem,
                                verdict.hint))
    return checks


def check_tools(environ: Mapping[str, str]) -> list[Check]:
    """kind and kubectl, by the same check `cluster up` runs: present with their versions, or a
    warning with the install hint (they are needed only for the cluster mirror)."""
    def which(tool: str) -> str | None:
        return shutil.which(tool, path=environ.get("PATH"))

    checks = []
    for tool in cluster_tools.check_tools(which=which, with_docker=False):
        if tool.ok:
            checks.append(Check(tool.name, "ok", f"{tool.version} at {tool.path}"))
        else:
            checks.append(Check(tool.name, "warn", tool.detail,
                                f"{tool.hint}; needed only for the staging/prod cluster mirror"))
    return sorted(checks, key=lambda c: c.name != "kubectl")


def check_env_file(plan: EnvironmentPlan | None, paths: WorkspacePaths) -> Check:
    """`.env` present in the workspace (it holds NEOTOOL_ROOT and the credentials)."""
    env_file = plan.env_file if plan is not None and plan.env_file else paths.root / ".env"
    if env_file.is_file():
        return Check(".env", "ok", f"{env_file}")
    example = env_file.parent / ".env.example"
    hint = (f"cp {example.name} {env_file.name} (then edit it)" if example.is_file()
            else "create .env with NEOTOOL_ROOT and the credentials (see the README)")
    return Check(".env", "warn", f"{env_file} is missing", hint)


def check_process_dirs(plan: EnvironmentPlan, environ: Mapping[str, str]) -> list[Check]:
    """Each process's working directory (under NEOTOOL_ROOT) exists."""
    root = plan.variables.get("NEOTOOL_ROOT") or environ.get("NEOTOOL_ROOT")
    checks: list[Check] = []
    for proc in plan.processes.values():
        problem = cwd_problem(proc.cwd)
        if problem is None:
            checks.append(Check("workdir", "ok", f"{proc.name}: {proc.cwd}"))
            continue
        now = f" (now NEOTOOL_ROOT={root})" if root else ""
        checks.append(Check("workdir", "warn", f"{proc.name}: {problem}",
                            f"set NEOTOOL_ROOT in .env to your NeoTool checkout{now}"))
    return checks


def format_checks(checks: Iterable[Check]) -> str:
    """Render the checks as aligned lines: status, name, detail, then `-> hint` if any.

    Example: `ok    docker     Docker Engine 20.10.24 (API 1.41) at unix:///var/run/docker.sock`
    """
    items = list(checks)
    width = max([10, *(len(c.name) for c in items)]) + 1
    lines = []
    for c in items:
        line = f"{c.status:<6}{c.name:<{width}}{c.detail}"
        if c.hint and c.status != "ok":
            line += f"  -> {c.hint}"
        lines.append(line)
    return "\n".join(lines)


def exit_code(checks: Iterable[Check]) -> int:
    """1 when any check failed, else 0 (warnings do not fail)."""
    return 1 if any(c.status == "fail" for c in checks) else 0


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0] if text else "(no output)"

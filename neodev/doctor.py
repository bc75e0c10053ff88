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

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import docker
import requests
from docker import DockerClient
from docker.context import ContextAPI
from docker.errors import DockerException, ImageNotFound

from neodev.config.model import EnvironmentPlan
from neodev.docker.project import published_host_ports
from neodev.paths import WorkspacePaths
from neodev.ports import can_bind, port_owner

Status = Literal["ok", "warn", "fail"]
DEFAULT_ENDPOINT = "unix:///var/run/docker.sock"
DOCKER_TIMEOUT = 10
"""Seconds any one engine call may take: doctor must answer even when the engine hangs."""
TOOL_TIMEOUT = 10
"""Seconds `kubectl version` / `kind version` may take."""

Connect = Callable[[Mapping[str, str]], DockerClient]


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
    client, engine_check = _connect_engine(env, connect or _connect_from_env)
    checks.append(engine_check)
    try:
        if plan is None:
            checks.append(Check("profile", "warn", "no profile loaded: images, ports and process "
                                "directories not checked", "run `neodev config` to see why"))
        else:
            checks.extend(check_images(plan, client))
            checks.extend(check_ports(plan, client))
        checks.extend(check_tools(env))
        checks.append(check_env_file(plan, paths))
        if plan is not None:
            checks.extend(check_process_dirs(plan, env))
    finally:
        if client is not None:
            client.close()
    return checks


def docker_endpoint(environ: Mapping[str, str]) -> tuple[str, str]:
    """Where the docker SDK will connect, and why: (endpoint, source).

    Mirrors `docker.from_env`: DOCKER_HOST, else the current docker CLI context, else the
    default socket.
    """
    if environ.get("DOCKER_HOST"):
        return environ["DOCKER_HOST"], "DOCKER_HOST"
    try:
        host = ContextAPI.kwargs_from_context(environment=dict(environ)).get("base_url")
    except DockerException:
        host = None  # a broken context: from_env reports it when connecting
    if host and str(host).replace("http+unix://", "unix://") != DEFAULT_ENDPOINT:
        return str(host), "docker context"
    return DEFAULT_ENDPOINT, "default"


def _connect_from_env(environ: Mapping[str, str]) -> DockerClient:
    return docker.from_env(environment=dict(environ), timeout=DOCKER_TIMEOUT)


def _connect_engine(environ: Mapping[str, str],
                    connect: Connect) -> tuple[DockerClient | None, Check]:
    endpoint, source = docker_endpoint(environ)
    where = endpoint if source == "default" else f"{endpoint} (from {source})"
    if source == "DOCKER_HOST":
        hint = f"start the engine at {endpoint}, or unset DOCKER_HOST to use the local one"
    else:
        hint = ("start the Docker engine (`sudo systemctl start docker`, Docker Desktop, or "
                "`setsid dockerd &` as root) and check that `docker info` answers")
    socket_path = _unix_socket_path(endpoint)
    if socket_path is not None and not socket_path.exists():
        # Said plainly, and without letting docker-py try (it leaks the failed socket).
        return None, Check("docker", "fail", f"no Docker engine at {where}: {socket_path} does "
                           "not exist", hint)
    try:
        client = connect(environ)
        version = client.version()
    except (DockerException, requests.exceptions.RequestException) as e:
        return None, Check("docker", "fail", f"no Docker engine answers at {where}: "
                           f"{_first_line(e)}", hint)
    detail = (f"Docker Engine {version.get('Version', '?')} "
              f"(API {version.get('ApiVersion', '?')}) at {where}")
    return client, Check("docker", "ok", detail)


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


@dataclass(frozen=True)
class _WantedPort:
    port: int
    host_ip: str
    protocol: str
    unit: str


def _wanted_ports(plan: EnvironmentPlan) -> list[_WantedPort]:
    wanted: list[_WantedPort] = []
    for spec in plan.containers.values():
        for mapping in spec.ports:
            if mapping.host_port is not None:
                wanted.append(_WantedPort(mapping.host_port, mapping.host_ip, mapping.protocol,
                                          spec.name))
    for proc in plan.processes.values():
        if proc.port is not None:
            # A dev server may listen on any address: test the wildcard, which conflicts with
            # every IPv4 listener on the port.
            wanted.append(_WantedPort(proc.port, "0.0.0.0", "tcp", proc.name))
    return wanted


def _published_ports(client: DockerClient | None) -> dict[tuple[int, str], tuple[str, str]]:
    """(host port, protocol) -> (container name, compose project) for running containers."""
    if client is None:
        return {}
    try:
        return published_host_ports(client.containers.list())
    except (DockerException, requests.exceptions.RequestException):
        return {}  # the docker line already says the engine is in trouble


def check_ports(plan: EnvironmentPlan, client: DockerClient | None) -> list[Check]:
    """One line per host port the plan publishes or listens on: free, ours, or whose."""
    wanted = _wanted_ports(plan)
    published = _published_ports(client)
    by_port: dict[tuple[int, str], list[str]] = {}
    for w in wanted:
        by_port.setdefault((w.port, w.protocol), []).append(w.unit)
    checks: list[Check] = []
    for w in wanted:
        host = "*" if w.host_ip == "0.0.0.0" else w.host_ip
        label = f"{host}:{w.port}/{w.protocol} ({w.unit})"
        users = by_port[(w.port, w.protocol)]
        if len(users) > 1:
            checks.append(Check("port", "fail", f"{label}: also wanted by "
                                f"{', '.join(u for u in users if u != w.unit)}",
                                "give each unit its own port in the profile / compose file"))
            continue
        owner = published.get((w.port, w.protocol))
        if owner is not None:
            name, project = owner
            if project == plan.project:
                checks.append(Check("port", "ok", f"{label}: in use by neodev's own container "
                                    f"{name}"))
            else:
                other = f" of project {project}" if project else ""
                checks.append(Check("port", "fail", f"{label}: in use by container {name}{other}",
                                    f"stop it (`docker stop {name}`) or change the port"))
            continue
        checks.append(_check_host_port(w, label))
    return checks


def _check_host_port(w: _WantedPort, label: str) -> Check:
    try:
        free = can_bind(w.host_ip, w.port, w.protocol)
    except OSError as e:
        return Check("port", "fail", f"{label}: cannot bind: {e}",
                     "use an address of this machine (127.0.0.1) in the profile / compose file")
    if free:
        return Check("port", "ok", f"{label}: free")
    owner = port_owner(w.port, w.protocol) or "a process this user cannot see"
    return Check("port", "fail", f"{label}: in use by {owner}",
                 "stop that process, or change the port in the profile / compose file")


_TOOL_HINTS = {
    "kubectl": "install kubectl (https://kubernetes.io/docs/tasks/tools/); needed only for the "
               "staging/prod cluster mirror",
    "kind": "install kind (`go install sigs.k8s.io/kind@latest` or "
            "https://kind.sigs.k8s.io/docs/user/quick-start/#installation); needed only for the "
            "staging/prod cluster mirror",
}


def check_tools(environ: Mapping[str, str]) -> list[Check]:
    """kubectl and kind: present (with their versions) or a warning with an install hint."""
    return [
        _check_tool("kubectl", ["version", "--client", "-o", "json"], environ, _kubectl_version),
        _check_tool("kind", ["version"], environ, lambda out: out.strip()),
    ]


def _kubectl_version(out: str) -> str:
    data = json.loads(out)
    return f"kubectl {data['clientVersion']['gitVersion']}"


def _check_tool(name: str, args: list[str], environ: Mapping[str, str],
                parse: Callable[[str], str]) -> Check:
    path = shutil.which(name, path=environ.get("PATH"))
    if path is None:
        return Check(name, "warn", f"{name} not found on PATH", _TOOL_HINTS[name])
    try:
        proc = subprocess.run([path, *args], capture_output=True, text=True,
                              timeout=TOOL_TIMEOUT, check=False, env=dict(environ))
    except (OSError, subprocess.TimeoutExpired) as e:
        return Check(name, "warn", f"{path} did not run: {e}", _TOOL_HINTS[name])
    if proc.returncode != 0:
        return Check(name, "warn", f"`{name} {' '.join(args)}` exited {proc.returncode}: "
                     f"{_first_line(proc.stderr or proc.stdout)}", _TOOL_HINTS[name])
    try:
        version = parse(proc.stdout)
    except (ValueError, KeyError, TypeError):
        version = _first_line(proc.stdout)
    return Check(name, "ok", f"{version} at {path}")


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
        cwd = Path(proc.cwd)
        if cwd.is_dir():
            checks.append(Check("workdir", "ok", f"{proc.name}: {cwd}"))
            continue
        now = f" (now NEOTOOL_ROOT={root})" if root else ""
        checks.append(Check("workdir", "warn", f"{proc.name}: {cwd} does not exist",
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

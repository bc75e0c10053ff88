"""Is every tool the kind mirror needs here? Checked before anything is changed.

`check_tools` looks up kind, kubectl and docker on PATH and asks the Docker engine for its
version (read-only). `doctor` shows the same list; `cluster up` refuses to start with a
ClusterError that carries the install hints.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable

from neodev.cluster.commands import Executor, run_subprocess
from neodev.cluster.report import ToolCheck
from neodev.errors import ClusterError

INSTALL_HINTS = {
    "kind": "install kind v0.32+: `go install sigs.k8s.io/kind@v0.32.0`, or the release binary "
            "from https://kind.sigs.k8s.io/docs/user/quick-start/#installation",
    "kubectl": "install kubectl: https://kubernetes.io/docs/tasks/tools/#kubectl "
               "(or your package manager: `apt-get install kubectl`, `brew install kubectl`)",
    "docker": "install the Docker CLI and engine: https://docs.docker.com/engine/install/",
    "docker-engine": "start the Docker engine (`sudo systemctl start docker`, Docker Desktop, "
                     "or `dockerd`) and check `docker info` works for your user",
}

VERSION_ARGV = {
    "kind": ("kind", "version"),
    "kubectl": ("kubectl", "version", "--client"),
}


def check_tools(executor: Executor = run_subprocess,
                which: Callable[[str], str | None] = shutil.which,
                with_docker: bool = True) -> list[ToolCheck]:
    """Check kind, kubectl, docker and the Docker engine; never raises.

    The one check of these tools: `cluster up` refuses to start on a failure, `doctor` shows
    the kind and kubectl lines (it checks the engine itself, through the SDK).

    Args:
        executor: runs the read-only version commands.
        which: finds a program on PATH (shutil.which).
        with_docker: also check the docker CLI and the engine behind it.

    Returns:
        One ToolCheck per tool, in the order kind, kubectl, docker, docker-engine.
    """
    checks: list[ToolCheck] = []
    for tool in ("kind", "kubectl"):
        path = which(tool)
        if path is None:
            checks.append(ToolCheck(tool, False, None, hint=INSTALL_HINTS[tool],
                                    detail=f"{tool} not found on PATH"))
            continue
        result = executor(VERSION_ARGV[tool], timeout=15)
        version = result.stdout.strip().splitlines()[0] if result.ok and result.stdout else ""
        checks.append(ToolCheck(tool, result.ok, path, version,
                                hint="" if result.ok else INSTALL_HINTS[tool],
                                detail="" if result.ok else result.tail()))
    if not with_docker:
        return checks
    docker = which("docker")
    if docker is None:
        checks.append(ToolCheck("docker", False, None, hint=INSTALL_HINTS["docker"],
                                detail="docker not found on PATH"))
        checks.append(ToolCheck("docker-engine", False, None, hint=INSTALL_HINTS["docker-engine"],
                                detail="no docker CLI to ask the engine"))
        return checks
    checks.append(ToolCheck("docker", True, docker))
    engine = executor(("docker", "version", "--format", "{{.Server.Version}}"), timeout=15)
    checks.append(ToolCheck("docker-engine", engine.ok, docker, engine.stdout.strip(),
                            hint="" if engine.ok else INSTALL_HINTS["docker-engine"],
                            detail="" if engine.ok else engine.tail()))
    return checks


def require_tools(executor: Executor = run_subprocess,
                  which: Callable[[str], str | None] = shutil.which) -> list[ToolCheck]:
    """`check_tools`, raising when anything is missing.

    Raises:
        ClusterError: listing every missing tool with its install hint.
    """
    checks = check_tools(executor, which)
    missing = [c for c in checks if not c.ok]
    if missing:
        lines = [f"- {c.name}: {c.detail or 'not usable'}; {c.hint}" for c in missing]
        raise ClusterError("the kind mirror needs kind, kubectl and a running Docker engine; "
                           "nothing was changed.\n" + "\n".join(lines),
                           title="Cluster tools missing")
    return checks

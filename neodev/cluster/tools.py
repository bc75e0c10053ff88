"""Is every tool the kind mirror needs here? Checked before anything is changed.

`check_tools` looks up kind, kubectl and docker on PATH, checks that kind is recent enough
(`KIND_MINIMUM`) and asks the Docker engine for its version (read-only). `doctor` shows the
same list; `cluster up` refuses to start with a ClusterError that carries the install hints.
"""

from __future__ import annotations

import re
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

KIND_MINIMUM = (0, 32)
"""The oldest kind the mirror is made for: its generated configuration (node labels rather than
kubeadm patches, which kind 0.32's kubeadm v1beta4 config ignores) and the node images it
expects are kind v0.32's."""
_KIND_VERSION = re.compile(r"\bkind v(\d+)\.(\d+)\.\d+")

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
        problem = result.tail() if not result.ok else (
            kind_version_problem(version) if tool == "kind" else None)
        checks.append(ToolCheck(tool, problem is None, path, version,
                                hint="" if problem is None else INSTALL_HINTS[tool],
                                detail=problem or ""))
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


def kind_version_problem(version: str) -> str | None:
    """Why the kind whose `kind version` printed `version` will not do (None: it will)."""
    found = _KIND_VERSION.search(version)
    wanted = "v{}.{}".format(*KIND_MINIMUM)
    if found is None:
        return f"cannot tell kind's version from {version!r}; the mirror needs kind {wanted}+"
    if (int(found[1]), int(found[2])) < KIND_MINIMUM:
        return (f"{found[0]} is too old: the mirror needs kind {wanted} or newer (its cluster "
                f"configuration and node images are kind {wanted}'s)")
    return None


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

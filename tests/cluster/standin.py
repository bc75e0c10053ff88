"""STAND-IN for `kind`, `docker` and `kubectl` in the cluster command-plan tests.

kind cannot run on this machine (no nested containers), so the tests put wrappers named kind,
docker and kubectl on PATH that run this script. It is NOT a fake cluster: it records every
invocation (one JSON array per line in $NEODEV_STANDIN_LOG) and keeps just enough state in
$NEODEV_STANDIN_STATE (clusters, the registry container and its networks) for the guards of the
plan to see what a previous run created. `kubectl kustomize` is passed through to the real
kubectl ($NEODEV_STANDIN_REAL_KUBECTL), so renders are real.

The kind version it reports is $NEODEV_STANDIN_KIND_VERSION (default v0.32.0).
Failure injection: when the command line ("tool arg arg ...") contains $NEODEV_STANDIN_FAIL, the
stand-in prints an error and exits 1, like a real tool failing at that step.
Usage: standin.py TOOL ARGS...
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

STATE = Path(os.environ["NEODEV_STANDIN_STATE"])
LOG = Path(os.environ["NEODEV_STANDIN_LOG"])


def load() -> dict:
    path = STATE / "state.json"
    if path.is_file():
        return json.loads(path.read_text())
    return {"clusters": [], "containers": {}}


def save(state: dict) -> None:
    (STATE / "state.json").write_text(json.dumps(state))


def fail(message: str, code: int = 1) -> None:
    print(message, file=sys.stderr)
    sys.exit(code)


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None


def kind(args: list[str], state: dict) -> None:
    if args[:1] == ["version"]:
        version = os.environ.get("NEODEV_STANDIN_KIND_VERSION", "v0.32.0")
        print(f"kind {version} go1.24 linux/amd64 (neodev test stand-in)")
    elif args[:2] == ["get", "clusters"]:
        print("\n".join(state["clusters"]) if state["clusters"] else "No kind clusters found.")
    elif args[:2] == ["create", "cluster"]:
        name = option(args, "--name") or "kind"
        if name in state["clusters"]:
            fail("ERROR: failed to create cluster: node(s) already exist for a cluster "
                 f'with the name "{name}"')
        config = option(args, "--config")
        if config is None or not Path(config).is_file():
            fail(f"ERROR: config file {config} not found")
        (STATE / f"kind-config-{name}.yaml").write_text(Path(config).read_text())
        state["clusters"].append(name)
        state["containers"][f"{name}-control-plane"] = {"networks": ["kind"]}
    elif args[:2] == ["delete", "cluster"]:
        name = option(args, "--name") or "kind"
        print(f'Deleting cluster "{name}" ...')
        if name in state["clusters"]:
            state["clusters"].remove(name)
    elif args[:2] == ["export", "kubeconfig"]:
        name = option(args, "--name") or "kind"
        if name not in state["clusters"]:
            fail(f'ERROR: could not locate any control plane nodes for cluster named "{name}"')
        print(f'Set kubectl context to "kind-{name}"')
    else:
        fail(f"stand-in kind: unsupported {args}", 2)


def docker(args: list[str], state: dict) -> None:
    containers = state["containers"]
    if args[:1] == ["version"]:
        print("20.10.24 (neodev test stand-in)")
    elif args[:1] == ["inspect"]:
        name, fmt = args[-1], option(args, "--format") or ""
        if name not in containers:
            fail(f"Error: No such object: {name}")
        networks = {n: {} for n in containers[name]["networks"]}
        print(json.dumps(networks) if "Networks" in fmt else f"/{name}")
    elif args[:1] == ["run"]:
        name = option(args, "--name")
        if name in containers:
            fail("docker: Error response from daemon: Conflict. The container name "
                 f'"/{name}" is already in use.', 125)
        containers[name] = {"networks": [option(args, "--network") or "bridge"]}
        print("f" * 64)
    elif args[:1] == ["start"]:
        if args[1] not in containers:
            fail(f"Error response from daemon: No such container: {args[1]}")
        print(args[1])
    elif args[:2] == ["network", "connect"]:
        network, name = args[2], args[3]
        if network in containers.get(name, {}).get("networks", []):
            fail(f"Error response from daemon: endpoint with name {name} already exists in "
                 f"network {network}")
        containers[name]["networks"].append(network)
    elif args[:1] == ["exec"]:
        node = args[1]
        if not any(node.startswith(f"{cluster}-") for cluster in state["clusters"]):
            fail(f"Error response from daemon: No such container: {node}")
    elif args[:1] in (["build"], ["push"]):
        print(f"stand-in {args[0]} {args[-1]}")
    else:
        fail(f"stand-in docker: unsupported {args}", 2)


def kubectl(args: list[str], state: dict) -> None:
    if args[:1] == ["kustomize"]:
        real = os.environ["NEODEV_STANDIN_REAL_KUBECTL"]
        os.execv(real, [real, *args])
    if args[:2] == ["version", "--client"]:
        print("Client Version: v1.36.0 (neodev test stand-in)")
        return
    context = option(args, "--context")
    if context is None or context.removeprefix("kind-") not in state["clusters"]:
        fail(f'error: context "{context}" does not exist')
    rest = args[2:]
    if rest[:1] == ["get"]:
        namespace = option(rest, "-n")
        canned = STATE / f"get-{namespace}.json"
        empty = '{"apiVersion": "v1", "kind": "List", "items": []}'
        print(canned.read_text() if canned.is_file() else empty)
    elif rest[:1] == ["apply"] or rest[:2] == ["rollout", "status"]:
        print("ok (stand-in)")
    else:
        fail(f"stand-in kubectl: unsupported {args}", 2)


def main() -> None:
    tool, args = sys.argv[1], sys.argv[2:]
    with LOG.open("a") as log:
        log.write(json.dumps([tool, *args]) + "\n")
    injected = os.environ.get("NEODEV_STANDIN_FAIL")
    if injected and injected in shlex.join([tool, *args]):
        fail(f"{tool}: injected failure (stand-in) for {injected!r}")
    state = load()
    {"kind": kind, "docker": docker, "kubectl": kubectl}[tool](args, state)
    save(state)


if __name__ == "__main__":
    main()

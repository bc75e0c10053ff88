"""The command plan of `cluster up` and `cluster down`, as data (pure: no command runs here).

`up_plan` lists every kind/docker/kubectl invocation in order, following kind's local-registry
pattern (reference §6): registry container -> cluster (created only when `kind get clusters`
does not list it, otherwise reconciled) -> hosts.toml on every node -> registry on the `kind`
network -> local-registry-hosting ConfigMap -> image build + push -> add-ons (ingress-nginx,
metrics-server) -> server-side apply of the rendered manifests -> bounded rollout waits.
Every kubectl call names the context `kind-<cluster>` so nothing lands in another cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from neodev.cluster.addons import ADDONS, addon_dir
from neodev.cluster.commands import Guard, Step
from neodev.cluster.images import ImageBuild
from neodev.cluster.kindconfig import CONTAINERD_CERTS_DIR, node_names, registry_hosts_toml
from neodev.config.model import ClusterSpec
from neodev.jsontypes import JsonObject

REGISTRY_NAME = "kind-registry"
REGISTRY_IMAGE = "registry:2"
FIELD_MANAGER = "neodev"
KIND_NETWORK = "kind"
ROLLOUT_KINDS = {"Deployment": "deployment", "StatefulSet": "statefulset", "DaemonSet": "daemonset"}
CREATE_TIMEOUT = 600.0
BUILD_TIMEOUT = 1800.0
ADDON_ROLLOUT_TIMEOUT = 180.0
HOSTS_TOML_SCRIPT = 'mkdir -p "$1" && printf "%s" "$2" > "$1/hosts.toml"'


@dataclass(frozen=True)
class UpInputs:
    """Everything the up plan depends on, resolved beforehand."""

    spec: ClusterSpec
    kind_config: Path
    rendered: Path
    registry_configmap: Path
    k8s_dir: Path
    """profiles/k8s (the add-ons live in its addons/ directory)."""
    images: tuple[ImageBuild, ...]
    rollouts: tuple[tuple[str, str, str], ...]
    """(kind, namespace, name) of every workload to wait for, in apply order."""


def context_name(spec: ClusterSpec) -> str:
    """The kubeconfig context kind creates for the cluster."""
    return f"kind-{spec.cluster_name}"


def kubectl(spec: ClusterSpec, *args: str) -> tuple[str, ...]:
    """A kubectl argv pinned to the mirror's context."""
    return ("kubectl", "--context", context_name(spec), *args)


def server_side_apply(spec: ClusterSpec, *source: str) -> tuple[str, ...]:
    """`kubectl apply --server-side` as the `neodev` field manager.

    `--force-conflicts`: the HPAs own `spec.replicas` after their first scale; re-applying the
    topology's replica counts must not fail on that conflict (the HPA adjusts again).
    """
    return kubectl(spec, "apply", "--server-side", f"--field-manager={FIELD_MANAGER}",
                   "--force-conflicts", *source)


def registry_steps(spec: ClusterSpec) -> list[Step]:
    """Create the registry container once, and make sure it runs."""
    publish = f"127.0.0.1:{spec.registry_port}:5000"
    return [
        Step("registry-create",
             ("docker", "run", "-d", "--restart=always", "-p", publish, "--network", "bridge",
              "--name", REGISTRY_NAME, "--label", "dev.neodev.registry=1", REGISTRY_IMAGE),
             skip_if=Guard(("docker", "inspect", "--format", "{{.Name}}", REGISTRY_NAME),
                           "exit-zero")),
        Step("registry-start", ("docker", "start", REGISTRY_NAME)),
    ]


def cluster_steps(spec: ClusterSpec, kind_config: Path) -> list[Step]:
    """Create the cluster unless it exists; refresh its kubeconfig context either way."""
    return [
        Step("cluster-create",
             ("kind", "create", "cluster", "--name", spec.cluster_name, "--config",
              str(kind_config), "--wait", "120s"),
             skip_if=Guard(("kind", "get", "clusters"), "line", spec.cluster_name),
             timeout=CREATE_TIMEOUT),
        Step("kubeconfig", ("kind", "export", "kubeconfig", "--name", spec.cluster_name)),
    ]


def registry_wiring_steps(spec: ClusterSpec, registry_configmap: Path) -> list[Step]:
    """hosts.toml on every node, the registry on the kind network, the hosting ConfigMap."""
    host_dir = f"{CONTAINERD_CERTS_DIR}/localhost:{spec.registry_port}"
    steps = [
        # Content passed as positional arguments to sh: no quoting of the TOML inside a script.
        Step(f"registry-hosts:{node}",
             ("docker", "exec", node, "sh", "-c", HOSTS_TOML_SCRIPT, "sh", host_dir,
              registry_hosts_toml(REGISTRY_NAME)))
        for node in node_names(spec)
    ]
    steps.append(Step(
        "registry-connect", ("docker", "network", "connect", KIND_NETWORK, REGISTRY_NAME),
        skip_if=Guard(("docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}",
                       REGISTRY_NAME), "contains", f'"{KIND_NETWORK}"')))
    steps.append(Step("registry-configmap", server_side_apply(spec, "-f", str(registry_configmap))))
    return steps


def image_steps(images: tuple[ImageBuild, ...]) -> list[Step]:
    """docker build + push for every app image."""
    steps: list[Step] = []
    for image in images:
        steps.append(Step(f"image-build:{image.app}",
                          ("docker", "build", "-t", image.ref, "-f", str(image.dockerfile),
                           str(image.context)), timeout=BUILD_TIMEOUT))
        steps.append(Step(f"image-push:{image.app}", ("docker", "push", image.ref),
                          timeout=BUILD_TIMEOUT))
    return steps


def addon_steps(spec: ClusterSpec, k8s_dir: Path) -> list[Step]:
    """Apply each add-on and wait for its controller."""
    steps: list[Step] = []
    for addon in ADDONS:
        steps.append(Step(f"addon-apply:{addon.name}",
                          server_side_apply(spec, "-k", str(addon_dir(k8s_dir, addon)))))
        steps.append(Step(f"addon-rollout:{addon.name}",
                          kubectl(spec, "rollout", "status", addon.rollout, "-n", addon.namespace,
                                  f"--timeout={ADDON_ROLLOUT_TIMEOUT:g}s"),
                          timeout=ADDON_ROLLOUT_TIMEOUT + 30))
    return steps


def rollout_targets(docs: list[JsonObject]) -> tuple[tuple[str, str, str], ...]:
    """(kind, namespace, name) of every Deployment/StatefulSet/DaemonSet in render order."""
    return tuple((d["kind"], d["metadata"].get("namespace", "default"), d["metadata"]["name"])
                 for d in docs if d.get("kind") in ROLLOUT_KINDS)


def up_plan(inputs: UpInputs) -> list[Step]:
    """The full ordered plan of `cluster up` (first run and reconcile are the same plan:
    guards skip what exists, everything else is idempotent)."""
    spec = inputs.spec
    timeout = f"--timeout={spec.rollout_timeout:g}s"
    return [
        *registry_steps(spec),
        *cluster_steps(spec, inputs.kind_config),
        *registry_wiring_steps(spec, inputs.registry_configmap),
        *image_steps(inputs.images),
        *addon_steps(spec, inputs.k8s_dir),
        Step("apply", server_side_apply(spec, "-f", str(inputs.rendered)), timeout=300.0),
        *(Step(f"rollout:{ns}/{kind.lower()}/{name}",
               kubectl(spec, "rollout", "status", f"{ROLLOUT_KINDS[kind]}/{name}", "-n", ns,
                       timeout),
               timeout=spec.rollout_timeout + 30)
          for kind, ns, name in inputs.rollouts),
    ]


def down_plan(spec: ClusterSpec) -> list[Step]:
    """`cluster down`: delete the kind cluster (kind treats a missing cluster as success).

    The registry container is kept on purpose: it is shared by every profile's mirror and holds
    the pushed images, so the next `up` does not rebuild from nothing.
    """
    return [Step("cluster-delete", ("kind", "delete", "cluster", "--name", spec.cluster_name),
                 timeout=300.0)]


def status_argv(spec: ClusterSpec, namespace: str) -> tuple[str, ...]:
    """Read-only: workloads, HPAs, pods and events of one namespace as one JSON List."""
    return kubectl(spec, "get", "deployments,statefulsets,horizontalpodautoscalers,pods,events",
                   "-n", namespace, "-o", "json")

"""The kind cluster configuration (kind.x-k8s.io/v1alpha4) generated from a ClusterSpec.

One control plane plus `spec.workers` workers. The control plane carries the node label
`ingress-ready=true` (node `labels:`, not a kubeadm patch: kind >= 0.32 generates kubeadm v1beta4,
where the classic v1beta3 patch is silently ignored) and maps the ingress ports 80/443 to
127.0.0.1 only (kind's default listenAddress is 0.0.0.0). containerd is pointed at
/etc/containerd/certs.d so the `hosts.toml` neodev writes on each node redirects
`localhost:<registry_port>` to the `kind-registry` container (kind's local-registry pattern; the
patch is redundant but harmless on node images >= v0.27, and needed on older ones).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from neodev.config.model import ClusterSpec
from neodev.jsontypes import JsonObject
from neodev.statefile import write_private

KIND_API_VERSION = "kind.x-k8s.io/v1alpha4"
CONTAINERD_CERTS_DIR = "/etc/containerd/certs.d"
CONTAINERD_REGISTRY_PATCH = (
    '[plugins."io.containerd.grpc.v1.cri".registry]\n'
    f'  config_path = "{CONTAINERD_CERTS_DIR}"'
)
INGRESS_NODE_LABEL = "ingress-ready"


def node_names(spec: ClusterSpec) -> list[str]:
    """The node container names kind gives the cluster: `<name>-control-plane`, `<name>-worker`,
    `<name>-worker2`, ..."""
    workers = [f"{spec.cluster_name}-worker{'' if i == 1 else i}"
               for i in range(1, spec.workers + 1)]
    return [f"{spec.cluster_name}-control-plane", *workers]


def kind_config(spec: ClusterSpec, node_image: str | None = None) -> JsonObject:
    """The kind Cluster config for `spec` as data.

    Args:
        spec: the profile's cluster section.
        node_image: optional `kindest/node` image (pin it by digest) for every node.
    """
    control_plane: JsonObject = {
        "role": "control-plane",
        "labels": {INGRESS_NODE_LABEL: "true"},
        "extraPortMappings": [
            {"containerPort": 80, "hostPort": spec.ingress_http_port,
             "listenAddress": "127.0.0.1", "protocol": "TCP"},
            {"containerPort": 443, "hostPort": spec.ingress_https_port,
             "listenAddress": "127.0.0.1", "protocol": "TCP"},
        ],
    }
    nodes = [control_plane, *({"role": "worker"} for _ in range(spec.workers))]
    if node_image:
        for node in nodes:
            node["image"] = node_image
    return {
        "kind": "Cluster",
        "apiVersion": KIND_API_VERSION,
        "name": spec.cluster_name,
        "networking": {"apiServerAddress": "127.0.0.1"},
        "nodes": nodes,
        "containerdConfigPatches": [CONTAINERD_REGISTRY_PATCH],
    }


def write_kind_config(spec: ClusterSpec, path: Path, node_image: str | None = None) -> Path:
    """Write the kind config YAML to `path` (atomically, 0600, parents created); return it."""
    write_private(path, yaml.safe_dump(kind_config(spec, node_image), sort_keys=False))
    return path


def registry_hosts_toml(registry_name: str) -> str:
    """The containerd hosts.toml that sends pulls of localhost:<port> to the registry container."""
    return f'[host."http://{registry_name}:5000"]\n'

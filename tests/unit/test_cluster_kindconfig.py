"""The generated kind config: a valid kind.x-k8s.io/v1alpha4 Cluster with the ingress ports on
127.0.0.1, the ingress node label and the containerd registry patch (structure checked against
the field names of kind's v1alpha4 types; kind itself cannot run here)."""

from __future__ import annotations

from pathlib import Path

import yaml

from neodev.cluster.kindconfig import kind_config, node_names, write_kind_config
from neodev.config.model import ClusterSpec

CLUSTER_FIELDS = {"kind", "apiVersion", "name", "featureGates", "runtimeConfig", "networking",
                  "nodes", "kubeadmConfigPatches", "kubeadmConfigPatchesJSON6902",
                  "containerdConfigPatches", "containerdConfigPatchesJSON6902"}
NODE_FIELDS = {"role", "image", "labels", "extraMounts", "extraPortMappings",
               "kubeadmConfigPatches", "kubeadmConfigPatchesJSON6902"}
PORT_FIELDS = {"containerPort", "hostPort", "listenAddress", "protocol"}
NETWORKING_FIELDS = {"ipFamily", "apiServerPort", "apiServerAddress", "podSubnet",
                     "serviceSubnet", "disableDefaultCNI", "kubeProxyMode", "dnsSearch"}


def spec(workers: int = 2, **extra) -> ClusterSpec:
    return ClusterSpec(environment="prod", cluster_name="neodev-prod",
                       overlay=Path("profiles/k8s/overlays/prod"), app_namespace="neotool-prod",
                       workers=workers, **extra)


def test_structure_is_v1alpha4(tmp_path):
    path = write_kind_config(spec(), tmp_path / "kind.yaml")
    config = yaml.safe_load(path.read_text())
    assert config["kind"] == "Cluster" and config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert config["name"] == "neodev-prod"
    assert set(config) <= CLUSTER_FIELDS
    assert set(config["networking"]) <= NETWORKING_FIELDS
    assert config["networking"]["apiServerAddress"] == "127.0.0.1"
    for node in config["nodes"]:
        assert set(node) <= NODE_FIELDS
        for mapping in node.get("extraPortMappings", []):
            assert set(mapping) <= PORT_FIELDS


def test_one_control_plane_plus_workers():
    for workers in (0, 1, 3):
        roles = [n["role"] for n in kind_config(spec(workers))["nodes"]]
        assert roles == ["control-plane"] + ["worker"] * workers
    assert node_names(spec(3)) == ["neodev-prod-control-plane", "neodev-prod-worker",
                                   "neodev-prod-worker2", "neodev-prod-worker3"]


def test_ingress_ports_mapped_on_loopback_only_and_node_labelled():
    control_plane = kind_config(spec(ingress_http_port=8081, ingress_https_port=8443))["nodes"][0]
    assert control_plane["labels"] == {"ingress-ready": "true"}
    assert "kubeadmConfigPatches" not in control_plane  # v1beta3 label patches are ignored
    assert control_plane["extraPortMappings"] == [
        {"containerPort": 80, "hostPort": 8081, "listenAddress": "127.0.0.1", "protocol": "TCP"},
        {"containerPort": 443, "hostPort": 8443, "listenAddress": "127.0.0.1", "protocol": "TCP"},
    ]
    workers = kind_config(spec())["nodes"][1:]
    assert all("extraPortMappings" not in n and "labels" not in n for n in workers)


def test_containerd_registry_patch():
    patches = kind_config(spec())["containerdConfigPatches"]
    assert len(patches) == 1
    lines = [line.strip() for line in patches[0].splitlines()]
    assert lines == ['[plugins."io.containerd.grpc.v1.cri".registry]',
                     'config_path = "/etc/containerd/certs.d"']


def test_node_image_pinned_on_every_node():
    image = "kindest/node:v1.36.1@sha256:" + "a" * 64
    assert {n["image"] for n in kind_config(spec(), node_image=image)["nodes"]} == {image}

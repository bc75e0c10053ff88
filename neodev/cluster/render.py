"""Render a profile's overlay for kind: the overlay plus a generated local kustomize layer.

The local layer lives in `.neodev/cluster/<profile>/` (never in a tracked file) and changes only
what a laptop needs changed, leaving the topology (objects, replicas, HPA bounds, probes,
policies) exactly as the overlay renders it:
- images: `neotool/<app>` -> `localhost:<registry_port>/neotool-<app>:<tag>` (kustomize `images:`);
- resources: every container's cpu/memory requests and limits times `resource_scale`;
- storage: StatefulSet volumeClaimTemplates (and PVCs) get kind's storage class and `pvc_size`;
- secrets: `db-credentials`, `jwt-secret` and `grafana-admin` generated from the .env values
  (secretGenerator over 0600 env files), which the repository never contains.
The computed parts are JSON patches derived from the overlay's own render, so they address the
exact containers and claim templates that exist. Rendering is always the real `kubectl kustomize`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import yaml

from neodev.cluster.commands import Executor, run_subprocess
from neodev.cluster.quantities import scale_resources
from neodev.config.model import ClusterSpec
from neodev.errors import ClusterError, ConfigError
from neodev.jsontypes import JsonObject
from neodev.statefile import write_private

KUSTOMIZE_TIMEOUT = 120.0
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
DATA_NAMESPACE = "neotool-data"
OBSERVABILITY_NAMESPACE = "observability"
POSTGRES_HOST = f"postgres.{DATA_NAMESPACE}.svc.cluster.local"
REQUIRED_SECRET_VARIABLES = ("POSTGRES_PASSWORD", "JWT_SECRET", "GRAFANA_ADMIN_PASSWORD")


@dataclass(frozen=True)
class RenderResult:
    """The rendered local layer."""

    layer_dir: Path
    rendered_path: Path
    """The rendered manifests (multi-document YAML, mode 0600: they hold Secret data)."""
    docs: list[JsonObject]


def kustomize(directory: Path, executor: Executor = run_subprocess) -> list[JsonObject]:
    """`kubectl kustomize DIR`, parsed into a list of objects.

    Raises:
        ConfigError: kustomize rejected the directory (its message names the file).
    """
    result = executor(("kubectl", "kustomize", str(directory)), timeout=KUSTOMIZE_TIMEOUT)
    if not result.ok:
        raise ConfigError(f"kubectl kustomize failed: {result.tail()}", file=str(directory))
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _workloads(docs: Iterable[JsonObject]) -> Iterable[JsonObject]:
    return (d for d in docs if d.get("kind") in WORKLOAD_KINDS)


def _target(doc: JsonObject) -> dict[str, str]:
    api = doc["apiVersion"]
    group, version = api.split("/", 1) if "/" in api else ("", api)
    target = {"group": group, "version": version, "kind": doc["kind"],
              "name": f"^{doc['metadata']['name']}$"}
    if doc["metadata"].get("namespace"):
        target["namespace"] = f"^{doc['metadata']['namespace']}$"
    return target


def resource_patches(docs: Iterable[JsonObject], factor: float) -> list[JsonObject]:
    """JSON patches replacing each container's resources with the scaled ones."""
    patches = []
    for doc in _workloads(docs):
        pod = doc["spec"]["template"]["spec"]
        ops = []
        for field in ("initContainers", "containers"):
            for index, container in enumerate(pod.get(field) or []):
                if container.get("resources"):
                    ops.append({"op": "replace",
                                "path": f"/spec/template/spec/{field}/{index}/resources",
                                "value": scale_resources(container["resources"], factor)})
        if ops:
            patches.append({"target": _target(doc), "patch": yaml.safe_dump(ops, sort_keys=False)})
    return patches


def storage_patches(docs: Iterable[JsonObject], spec: ClusterSpec) -> list[JsonObject]:
    """JSON patches giving claim templates and PVCs kind's storage class and `spec.pvc_size`."""
    patches = []
    for doc in docs:
        if doc.get("kind") == "StatefulSet":
            prefixes = [f"/spec/volumeClaimTemplates/{i}/spec"
                        for i, _ in enumerate(doc["spec"].get("volumeClaimTemplates") or [])]
        elif doc.get("kind") == "PersistentVolumeClaim":
            prefixes = ["/spec"]
        else:
            continue
        ops = []
        for prefix in prefixes:
            ops.append({"op": "add", "path": f"{prefix}/storageClassName",
                        "value": spec.storage_class})
            ops.append({"op": "add", "path": f"{prefix}/resources/requests/storage",
                        "value": spec.pvc_size})
        if ops:
            patches.append({"target": _target(doc), "patch": yaml.safe_dump(ops, sort_keys=False)})
    return patches


def secret_values(variables: dict[str, str]) -> dict[str, dict[str, str]]:
    """The generated Secrets' contents from the resolved variables (pure).

    The caller makes sure every `REQUIRED_SECRET_VARIABLES` entry has a value first
    (`neodev.configstate.ensure_secrets`, the one generator of missing secrets).

    Raises:
        ConfigError: a required value is missing, or a value contains a newline (env files
            cannot hold it).
    """
    values = dict(variables)
    missing = [key for key in REQUIRED_SECRET_VARIABLES if not values.get(key)]
    if missing:
        raise ConfigError(f"no value for {', '.join(missing)}: set it in .env (or let neodev "
                          "generate it into .neodev/secrets.env)", key=missing[0])
    for key, value in values.items():
        if "\n" in value and key in (*REQUIRED_SECRET_VARIABLES, "POSTGRES_USER", "POSTGRES_DB"):
            raise ConfigError("value contains a newline; Kubernetes secrets are generated from "
                              "env files, one KEY=VALUE per line", key=key)
    user = values.get("POSTGRES_USER") or "neotool"
    password = values["POSTGRES_PASSWORD"]
    database = values.get("POSTGRES_DB") or "neotool"
    credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
    url = f"postgresql://{credentials}@{POSTGRES_HOST}:5432/{database}"
    contents = {
        "db-credentials": {"POSTGRES_USER": user, "POSTGRES_PASSWORD": password,
                           "POSTGRES_DB": database, "DB_USER": user, "DB_PASSWORD": password,
                           "DB_NAME": database, "DATABASE_URL": url},
        "jwt-secret": {"JWT_SECRET": values["JWT_SECRET"]},
        "grafana-admin": {"GF_SECURITY_ADMIN_PASSWORD": values["GRAFANA_ADMIN_PASSWORD"]},
    }
    return contents


def secret_namespaces(spec: ClusterSpec) -> dict[str, tuple[str, ...]]:
    """Which namespaces get which generated Secret."""
    return {"db-credentials": (spec.app_namespace, DATA_NAMESPACE),
            "jwt-secret": (spec.app_namespace,),
            "grafana-admin": (OBSERVABILITY_NAMESPACE,)}


def local_kustomization(spec: ClusterSpec, overlay_docs: list[JsonObject], overlay: Path,
                        layer_dir: Path, images: dict[str, str]) -> JsonObject:
    """The local layer's kustomization.yaml as data (pure).

    Args:
        spec: the cluster section (scale, storage class, PVC size, app namespace).
        overlay_docs: the overlay's own render, which the patches address.
        overlay: the overlay directory (referenced relatively from the layer).
        layer_dir: where the kustomization will be written.
        images: base image name (`neotool/backend`) -> local reference (`localhost:5001/...:tag`).
    """
    namespaces = {d["metadata"]["name"] for d in overlay_docs if d.get("kind") == "Namespace"}
    generators = []
    for name, targets in secret_namespaces(spec).items():
        for namespace in targets:
            if namespace in namespaces:
                generators.append({"name": name, "namespace": namespace, "type": "Opaque",
                                   "envs": [f"secrets/{name}.env"]})
    image_entries = []
    for base, ref in sorted(images.items()):
        new_name, _, tag = ref.rpartition(":")
        image_entries.append({"name": base, "newName": new_name, "newTag": tag})
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(overlay, layer_dir)],
        "images": image_entries,
        "secretGenerator": generators,
        "patches": [*resource_patches(overlay_docs, spec.resource_scale),
                    *storage_patches(overlay_docs, spec)],
    }


def render_local(spec: ClusterSpec, overlay: Path, layer_dir: Path, images: dict[str, str],
                 variables: dict[str, str], executor: Executor = run_subprocess) -> RenderResult:
    """Write the local layer into `layer_dir`, render it with kubectl, and return the objects.

    Args:
        spec: the profile's cluster section.
        overlay: absolute path of the overlay directory.
        layer_dir: `.neodev/cluster/<profile>/` (created 0700).
        images: base image name -> local reference.
        variables: the plan's resolved variables (.env values) for the generated Secrets.
        executor: runs `kubectl kustomize`.

    Raises:
        ConfigError: the overlay does not render, or a secret value is unusable.
        ClusterError: the layer could not be written.
    """
    if not overlay.is_dir():
        raise ConfigError(f"overlay directory {overlay} does not exist", key="cluster.overlay")
    overlay_docs = kustomize(overlay, executor)
    try:
        layer_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (layer_dir / "secrets").mkdir(mode=0o700, exist_ok=True)
        contents = secret_values(variables)
        for name, pairs in contents.items():
            write_private(layer_dir / "secrets" / f"{name}.env",
                           "".join(f"{k}={v}\n" for k, v in pairs.items()))
        kustomization = local_kustomization(spec, overlay_docs, overlay, layer_dir, images)
        write_private(layer_dir / "kustomization.yaml",
                      "# Generated by neodev: the local kind layer over " + str(overlay)
                      + ". Do not edit.\n" + yaml.safe_dump(kustomization, sort_keys=False))
    except OSError as exc:
        raise ClusterError(f"cannot write the local layer in {layer_dir}: {exc}") from exc
    docs = kustomize(layer_dir, executor)
    rendered = layer_dir / "rendered.yaml"
    write_private(rendered, yaml.safe_dump_all(docs, sort_keys=False))
    return RenderResult(layer_dir, rendered, docs)


def registry_hosting_configmap(registry_port: int) -> JsonObject:
    """The `local-registry-hosting` ConfigMap (KEP-1755) telling tools where to push."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "local-registry-hosting", "namespace": "kube-public"},
        "data": {"localRegistryHosting.v1": (
            f'host: "localhost:{registry_port}"\n'
            'help: "https://kind.sigs.k8s.io/docs/user/local-registry/"\n')},
    }

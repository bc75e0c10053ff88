"""The staging/prod topology as rendered by the real `kubectl kustomize`, and the local layer.

Every rendered object is validated against the Kubernetes 1.36 schema in strict mode; the
topology is checked against the design brief; the network policies are evaluated with a small
NetworkPolicy interpreter (allowed and forbidden flows); the local kind layer is proven to change
only images, resources, storage and the generated secrets' names, by a path-level diff.
"""

from __future__ import annotations

import base64
import re
import stat
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from neodev.cluster.render import REQUIRED_SECRET_VARIABLES, kustomize, render_local
from neodev.config.model import ClusterSpec
from neodev.configstate import ensure_secrets
from neodev.errors import ConfigError
from neodev.paths import WorkspacePaths

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S = REPO_ROOT / "profiles/k8s"
K8S_VERSION = "1.36"
ENVS = {
    "staging": {"ns": "neotool-staging", "replicas": {"frontend": 2, "router": 2, "backend": 2},
                "hpa": (2, 3)},
    "prod": {"ns": "neotool-prod", "replicas": {"frontend": 3, "router": 2, "backend": 3},
             "hpa": (2, 10)},
}
APPS = ("frontend", "router", "backend")
DOTENV = {"POSTGRES_USER": "neotool", "POSTGRES_PASSWORD": "p@ss word", "POSTGRES_DB": "neotool",
          "JWT_SECRET": "jwt", "GRAFANA_ADMIN_PASSWORD": "graf"}
GENERATED = {"db-credentials", "jwt-secret", "grafana-admin"}


def spec_for(env: str) -> ClusterSpec:
    return ClusterSpec(environment=env, cluster_name=f"neodev-{env}",
                       overlay=K8S / "overlays" / env, app_namespace=ENVS[env]["ns"],
                       resource_scale=0.25, storage_class="standard", pvc_size="1Gi")


def local_images(env: str) -> dict[str, str]:
    return {f"neotool/{app}": f"localhost:5001/neotool-{app}:t{env}" for app in APPS}


@pytest.fixture(scope="module", params=sorted(ENVS))
def env(request) -> str:
    return request.param


_cache: dict[str, Any] = {}


@pytest.fixture(scope="module")
def renders(tmp_path_factory) -> dict[str, Any]:
    """overlay docs and local-layer result per environment, rendered once per module."""
    if not _cache:
        for name in ENVS:
            layer = tmp_path_factory.mktemp(f"layer-{name}")
            _cache[name] = (kustomize(K8S / "overlays" / name),
                            render_local(spec_for(name), K8S / "overlays" / name, layer,
                                         local_images(name), DOTENV))
    return _cache


def by_kind(docs, kind):
    return {(d["metadata"].get("namespace"), d["metadata"]["name"]): d
            for d in docs if d["kind"] == kind}


def pod_specs(docs):
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet"):
            yield d, d["spec"]["template"]["spec"]


# --- schema -----------------------------------------------------------------------------------

def test_every_rendered_object_is_valid_kubernetes_strict(renders, env):
    overlay, local = renders[env]
    for doc in [*overlay, *local.docs]:
        assert kubernetes_validate.validate(doc, K8S_VERSION, strict=True) == K8S_VERSION, doc


def test_strict_validation_catches_a_typo():
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
           "spec": {"replica": 2, "selector": {"matchLabels": {"a": "b"}},
                    "template": {"metadata": {"labels": {"a": "b"}},
                                 "spec": {"containers": [{"name": "x", "image": "x"}]}}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


# --- topology against the design brief --------------------------------------------------------

def test_namespaces(renders, env):
    overlay, _ = renders[env]
    ns = ENVS[env]["ns"]
    assert set(by_kind(overlay, "Namespace")) == {(None, ns), (None, "neotool-data"),
                                                  (None, "observability")}
    for app in APPS:
        assert (ns, app) in by_kind(overlay, "Deployment")
        assert (ns, app) in by_kind(overlay, "Service")
    assert ("neotool-data", "postgres") in by_kind(overlay, "StatefulSet")
    assert {("observability", "prometheus"), ("observability", "loki")} <= set(
        by_kind(overlay, "StatefulSet"))
    assert ("observability", "grafana") in by_kind(overlay, "Deployment")
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    for doc in overlay:
        if doc["kind"] not in cluster_scoped:
            assert doc["metadata"]["namespace"] in {ns, "neotool-data", "observability"}, doc


def test_replicas_strategy_and_hpa_bounds(renders, env):
    overlay, _ = renders[env]
    ns = ENVS[env]["ns"]
    deployments = by_kind(overlay, "Deployment")
    hpas = by_kind(overlay, "HorizontalPodAutoscaler")
    for app in APPS:
        dep = deployments[(ns, app)]
        assert dep["spec"]["replicas"] == ENVS[env]["replicas"][app]
        assert dep["spec"]["strategy"] == {"type": "RollingUpdate",
                                           "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
        hpa = hpas[(ns, app)]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                                 "name": app}
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == ENVS[env]["hpa"]
        targets = {m["resource"]["name"]: m["resource"]["target"] for m in hpa["spec"]["metrics"]}
        assert targets == {"cpu": {"type": "Utilization", "averageUtilization": 70},
                           "memory": {"type": "Utilization", "averageUtilization": 80}}


def test_backend_probes_resources_and_secrets(renders, env):
    overlay, _ = renders[env]
    backend = by_kind(overlay, "Deployment")[(ENVS[env]["ns"], "backend")]
    container = backend["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/liveness"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/readiness"
    assert container["resources"] == {"requests": {"cpu": "250m", "memory": "512Mi"},
                                      "limits": {"cpu": "1000m", "memory": "2Gi"}}
    assert [e["secretRef"]["name"] for e in container["envFrom"]] == ["db-credentials",
                                                                     "jwt-secret"]


def test_every_container_has_probes_and_resources(renders, env):
    overlay, _ = renders[env]
    for doc, pod in pod_specs(overlay):
        for container in pod["containers"]:
            assert container.get("readinessProbe"), doc["metadata"]["name"]
            assert container["resources"]["requests"] and container["resources"]["limits"]


def test_every_pod_runs_non_root_and_locked_down(renders, env):
    overlay, _ = renders[env]
    for doc, pod in pod_specs(overlay):
        name = doc["metadata"]["name"]
        sc = pod["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["runAsUser"] > 0, name
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in pod["containers"]:
            csc = container["securityContext"]
            assert csc["allowPrivilegeEscalation"] is False, name
            assert csc["capabilities"] == {"drop": ["ALL"]}, name
            assert csc["readOnlyRootFilesystem"] is True, name


def test_services_statefulsets_and_ingress(renders, env):
    overlay, _ = renders[env]
    ns = ENVS[env]["ns"]
    services = by_kind(overlay, "Service")
    for key, svc in services.items():
        if key == ("neotool-data", "postgres"):
            assert svc["spec"]["clusterIP"] == "None"  # headless, governs the StatefulSet
        else:
            assert svc["spec"]["type"] == "ClusterIP", key
    for key, sts in by_kind(overlay, "StatefulSet").items():
        assert sts["spec"]["volumeClaimTemplates"], key
        assert (key[0], sts["spec"]["serviceName"]) in services, key
    ingress = by_kind(overlay, "Ingress")[(ns, "neotool")]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    routes = {p["path"]: p["backend"]["service"]["name"]
              for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert routes == {"/": "frontend", "/graphql": "router"}


# --- network policies, evaluated --------------------------------------------------------------

def selects(selector: dict | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return True
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        value, op = labels.get(expr["key"]), expr["operator"]
        if (op == "In" and value not in expr["values"]) or (
                op == "NotIn" and value in expr["values"]) or (
                op == "Exists" and value is None) or (op == "DoesNotExist" and value is not None):
            return False
    return True


class Net:
    """Enough of NetworkPolicy semantics to decide one TCP/UDP flow between two pods."""

    def __init__(self, docs):
        self.policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
        self.ns_labels = {"ingress-nginx": {}, "kube-system": {}, "default": {}}
        for d in docs:
            if d["kind"] == "Namespace":
                self.ns_labels[d["metadata"]["name"]] = dict(d["metadata"].get("labels", {}))
        for name, labels in self.ns_labels.items():
            labels.setdefault("kubernetes.io/metadata.name", name)

    def _peer(self, peer, policy_ns, other) -> bool:
        ns, labels = other
        if "ipBlock" in peer:
            return False
        ns_ok = (ns == policy_ns if "namespaceSelector" not in peer
                 else selects(peer["namespaceSelector"], self.ns_labels[ns]))
        return ns_ok and selects(peer.get("podSelector"), labels)

    def _allows(self, direction, pod, other, port, protocol) -> bool:
        applicable = [p for p in self.policies if p["metadata"]["namespace"] == pod[0]
                      and selects(p["spec"]["podSelector"], pod[1])
                      and direction in p["spec"]["policyTypes"]]
        if not applicable:
            return True
        key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        for policy in applicable:
            for rule in policy["spec"].get(key) or []:
                peers = rule.get(peers_key)
                ports = rule.get("ports")
                if (peers is None or any(self._peer(p, pod[0], other) for p in peers)) and (
                        ports is None or any(p.get("port") == port and
                                             p.get("protocol", "TCP") == protocol for p in ports)):
                    return True
        return False

    def flow(self, src, dst, port, protocol="TCP") -> bool:
        return (self._allows("Egress", src, dst, port, protocol)
                and self._allows("Ingress", dst, src, port, protocol))


def pods(docs) -> dict[str, tuple[str, dict]]:
    found = {"ingress": ("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx",
                                           "app.kubernetes.io/component": "controller"}),
             "dns": ("kube-system", {"k8s-app": "kube-dns"}),
             "apiserver": ("default", {"component": "apiserver"})}
    for doc, _ in pod_specs(docs):
        found[doc["metadata"]["name"]] = (doc["metadata"]["namespace"],
                                          doc["spec"]["template"]["metadata"]["labels"])
    for d in docs:
        if d["kind"] == "Deployment" and d["metadata"]["name"] not in found:
            found[d["metadata"]["name"]] = (d["metadata"]["namespace"],
                                            d["spec"]["template"]["metadata"]["labels"])
    return found


NEEDED = [("ingress", "frontend", 3000), ("ingress", "router", 4000), ("frontend", "router", 4000),
          ("router", "backend", 8080), ("backend", "postgres", 5432),
          ("prometheus", "backend", 8080), ("prometheus", "apiserver", 6443),
          ("grafana", "prometheus", 9090), ("grafana", "loki", 3100)]
FORBIDDEN = [("frontend", "backend", 8080), ("frontend", "postgres", 5432),
             ("router", "postgres", 5432), ("ingress", "backend", 8080),
             ("ingress", "grafana", 3000), ("grafana", "backend", 8080),
             ("backend", "prometheus", 9090), ("prometheus", "postgres", 5432),
             ("loki", "backend", 8080), ("backend", "router", 4000),
             ("backend", "apiserver", 6443)]


def test_default_deny_in_every_namespace(renders, env):
    overlay, _ = renders[env]
    for ns in (ENVS[env]["ns"], "neotool-data", "observability"):
        assert any(p["metadata"]["namespace"] == ns and p["spec"]["podSelector"] == {}
                   and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
                   and not p["spec"].get("ingress") and not p["spec"].get("egress")
                   for p in by_kind(overlay, "NetworkPolicy").values()), ns


@pytest.mark.parametrize(("src", "dst", "port"), NEEDED)
def test_needed_flows_are_allowed(renders, src, dst, port):
    for env_name in ENVS:
        overlay, _ = renders[env_name]
        net, found = Net(overlay), pods(overlay)
        assert net.flow(found[src], found[dst], port), (env_name, src, dst, port)


@pytest.mark.parametrize(("src", "dst", "port"), FORBIDDEN)
def test_other_flows_are_denied(renders, src, dst, port):
    for env_name in ENVS:
        overlay, _ = renders[env_name]
        net, found = Net(overlay), pods(overlay)
        assert not net.flow(found[src], found[dst], port), (env_name, src, dst, port)


def test_every_pod_may_resolve_dns(renders, env):
    overlay, _ = renders[env]
    net, found = Net(overlay), pods(overlay)
    for name in ("frontend", "router", "backend", "postgres", "prometheus", "grafana", "loki"):
        assert net.flow(found[name], found["dns"], 53, "UDP"), name


# --- secrets ----------------------------------------------------------------------------------

def test_no_secret_is_committed():
    files = [*K8S.rglob("*.yaml"), *K8S.rglob("*.yml")]
    assert files
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            assert doc.get("kind") != "Secret", path
            assert not doc.get("secretGenerator"), path  # literals would be secrets in git
    assert not [p for p in K8S.rglob("*") if p.name.endswith(".env") or p.name == ".env"]


def test_overlays_render_no_secret_and_the_local_layer_generates_them(renders, env):
    overlay, local = renders[env]
    assert not by_kind(overlay, "Secret")
    secrets = by_kind(local.docs, "Secret")
    ns = ENVS[env]["ns"]
    names = {(k[0], re.sub(r"-[a-z0-9]{10}$", "", k[1])) for k in secrets}
    assert names == {(ns, "db-credentials"), ("neotool-data", "db-credentials"),
                     (ns, "jwt-secret"), ("observability", "grafana-admin")}
    db = next(s for k, s in secrets.items() if k[0] == ns and k[1].startswith("db-credentials"))
    data = {k: base64.b64decode(v).decode() for k, v in db["data"].items()}
    assert data["POSTGRES_PASSWORD"] == "p@ss word" and data["DB_USER"] == "neotool"
    assert data["DATABASE_URL"] == ("postgresql://neotool:p%40ss%20word@"
                                    "postgres.neotool-data.svc.cluster.local:5432/neotool")
    for path in [local.rendered_path, *(local.layer_dir / "secrets").iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(local.layer_dir.stat().st_mode) == 0o700


def test_a_missing_secret_value_is_refused_naming_it(tmp_path):
    spec = spec_for("staging")
    variables = {"POSTGRES_PASSWORD": "x", "GRAFANA_ADMIN_PASSWORD": "y"}
    with pytest.raises(ConfigError, match="JWT_SECRET") as raised:
        render_local(spec, spec.overlay, tmp_path, local_images("staging"), variables)
    assert raised.value.key == "JWT_SECRET"
    assert not (tmp_path / "secrets").exists() or not list((tmp_path / "secrets").iterdir())


def test_cluster_secrets_are_generated_by_the_one_generator_and_kept(tmp_path):
    # The cluster's missing secrets land in .neodev/secrets.env, as the compose stack's do, so
    # a second render (and the dev environment) sees the same values.
    paths = WorkspacePaths(tmp_path)
    variables = {"POSTGRES_PASSWORD": "x", "GRAFANA_ADMIN_PASSWORD": "y"}
    first, generated = ensure_secrets(paths, REQUIRED_SECRET_VARIABLES, variables)
    second, again = ensure_secrets(paths, REQUIRED_SECRET_VARIABLES, variables)
    assert generated == ["JWT_SECRET"] and again == []
    assert first == second and first["POSTGRES_PASSWORD"] == "x"
    assert stat.S_IMODE(paths.secrets_file.stat().st_mode) == 0o600
    spec = spec_for("staging")
    docs = render_local(spec, spec.overlay, tmp_path / "layer", local_images("staging"),
                        {**variables, **second}).docs
    jwt = next(d["data"] for d in docs if d["kind"] == "Secret"
               and d["metadata"]["name"].startswith("jwt-secret"))
    assert base64.b64decode(jwt["JWT_SECRET"]).decode() == first["JWT_SECRET"]


# --- the local layer changes only images, resources, storage ----------------------------------

ALLOWED = [re.compile(p) for p in (
    r"spec/template/spec/(containers|initContainers)/\d+/image",
    r"spec/template/spec/(containers|initContainers)/\d+/resources/(requests|limits)/(cpu|memory)",
    r"spec/volumeClaimTemplates/\d+/spec/storageClassName",
    r"spec/volumeClaimTemplates/\d+/spec/resources/requests/storage",
    r"spec/template/spec/containers/\d+/envFrom/\d+/secretRef/name",
    r"spec/template/spec/containers/\d+/env/\d+/valueFrom/secretKeyRef/name",
)]


def diff_paths(a: Any, b: Any, path: tuple = ()) -> list[tuple[str, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b))
                for d in diff_paths(a.get(k), b.get(k), (*path, str(k)))]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in diff_paths(x, y, (*path, str(i)))]
    return [] if a == b else [("/".join(path), a, b)]


def test_local_layer_changes_only_images_resources_storage(renders, env):
    overlay, local = renders[env]
    key = lambda d: (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"])  # noqa: E731
    base = {key(d): d for d in overlay}
    mirrored = {key(d): d for d in local.docs if d["kind"] != "Secret"}
    assert set(base) == set(mirrored)  # identical object set (plus the generated Secrets)
    changed: set[int] = set()
    for k, doc in base.items():
        for path, old, new in diff_paths(doc, mirrored[k]):
            matched = [i for i, p in enumerate(ALLOWED) if p.fullmatch(path)]
            assert matched, (k, path, old, new)
            if path.endswith("/name"):
                assert old in GENERATED and re.fullmatch(rf"{old}-[a-z0-9]{{10}}", new)
            changed.update(matched)
    # images, resources, storage class and size really changed (the diff is not vacuous).
    assert {0, 1, 2, 3} <= changed


def test_local_layer_values(renders, env):
    _, local = renders[env]
    ns = ENVS[env]["ns"]
    deployments = by_kind(local.docs, "Deployment")
    for app in APPS:
        container = deployments[(ns, app)]["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == f"localhost:5001/neotool-{app}:t{env}"
        assert container["imagePullPolicy"] == "IfNotPresent"
    backend = deployments[(ns, "backend")]["spec"]["template"]["spec"]["containers"][0]
    assert backend["resources"] == {"requests": {"cpu": "63m", "memory": "128Mi"},
                                    "limits": {"cpu": "250m", "memory": "512Mi"}}
    for sts in by_kind(local.docs, "StatefulSet").values():
        for template in sts["spec"]["volumeClaimTemplates"]:
            assert template["spec"]["storageClassName"] == "standard"
            assert template["spec"]["resources"]["requests"]["storage"] == "1Gi"
    layer = yaml.safe_load((local.layer_dir / "kustomization.yaml").read_text())
    assert not Path(layer["resources"][0]).is_absolute()
    assert not any("neotool/" in str(c.get("image")) for d, pod in pod_specs(local.docs)
                   for c in pod["containers"])


def test_local_layer_writes_nothing_into_the_repository(tmp_path):
    before = {p: p.read_bytes() for p in K8S.rglob("*") if p.is_file()}
    render_local(spec_for("prod"), K8S / "overlays/prod", tmp_path / "layer",
                 local_images("prod"), DOTENV)
    assert before == {p: p.read_bytes() for p in K8S.rglob("*") if p.is_file()}

"""The `cluster up/status/down` command plans, run against recording STAND-INS.

kind cannot run on this machine, so kind, docker and kubectl on PATH are stand-ins
(tests/cluster/standin.py) that record each command line and keep a little state; only
`kubectl kustomize` is real. These tests prove the sequence and arguments of the invocations,
idempotent re-runs, clean failure reports and the tool check; they do not prove that a real
cluster comes up (that needs Docker-in-Docker or a CI runner with kind).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml

from neodev.cluster import cluster_down, cluster_status, cluster_up
from neodev.errors import ClusterError, ClusterStepFailed
from neodev.protocol import encode
from neodev.protocol.cluster import ProgressStep

REPO_ROOT = Path(__file__).resolve().parents[2]
CTX = "kind-neodev-staging"
NODES = ("neodev-staging-control-plane", "neodev-staging-worker", "neodev-staging-worker2")
READ_ONLY = {("kind", "version"), ("kind", "get"), ("kubectl", "version"), ("docker", "version"),
             ("kubectl", "kustomize"), ("docker", "inspect")}


def lines(calls: list[list[str]]) -> list[str]:
    return [shlex.join(c) for c in calls]


def index_of(calls: list[list[str]], prefix: str) -> int:
    for i, line in enumerate(lines(calls)):
        if line.startswith(prefix):
            return i
    raise AssertionError(f"no command starting with {prefix!r} in:\n" + "\n".join(lines(calls)))


def run_up(plan, workspace):
    events: list[ProgressStep] = []
    report = cluster_up(plan, workspace, events.append)
    return report, events


def test_first_run_creates_everything_in_order(standin, staging_plan, workspace):
    report, events = run_up(staging_plan, workspace)
    calls = standin.calls()
    text = lines(calls)
    # Tools are checked before anything else; the render comes before any change.
    assert [c[:2] for c in calls[:3]] == [["kind", "version"], ["kubectl", "version"],
                                          ["docker", "version"]]
    first_change = next(i for i, c in enumerate(calls) if tuple(c[:2]) not in READ_ONLY)
    assert all(c[:2] == ["kubectl", "kustomize"] or tuple(c[:2]) in READ_ONLY
               for c in calls[:first_change])
    assert sum(c[:2] == ["kubectl", "kustomize"] for c in calls[:first_change]) == 2

    layer = workspace.cluster_dir / "staging"
    registry_run = index_of(calls, "docker run -d --restart=always -p 127.0.0.1:5001:5000 "
                                   "--network bridge --name kind-registry")
    create = index_of(calls, "kind create cluster --name neodev-staging --config "
                             f"{layer / 'kind-config.yaml'} --wait 120s")
    hosts = [index_of(calls, f"docker exec {node} sh -c") for node in NODES]
    connect = index_of(calls, "docker network connect kind kind-registry")
    configmap = index_of(calls, f"kubectl --context {CTX} apply --server-side "
                                "--field-manager=neodev --force-conflicts -f "
                                f"{layer / 'local-registry-hosting.yaml'}")
    builds = [index_of(calls, f"docker build -t localhost:5001/neotool-{app}:") for app in
              ("backend", "frontend", "router")]
    pushes = [index_of(calls, f"docker push localhost:5001/neotool-{app}:") for app in
              ("backend", "frontend", "router")]
    ingress = index_of(calls, f"kubectl --context {CTX} apply --server-side "
                              "--field-manager=neodev --force-conflicts -k")
    apply = index_of(calls, f"kubectl --context {CTX} apply --server-side --field-manager=neodev "
                            f"--force-conflicts -f {layer / 'rendered.yaml'}")
    rollout = index_of(calls, f"kubectl --context {CTX} rollout status deployment/backend "
                              "-n neotool-staging --timeout=120s")
    assert registry_run < create < min(hosts) <= max(hosts) < connect < configmap
    assert configmap < builds[0] < pushes[0] < ingress < apply < rollout
    assert sum(line.startswith("kind create cluster") for line in text) == 1

    # hosts.toml: the registry's in-network address, for localhost:<port>, on every node.
    exec_call = calls[hosts[0]]
    assert exec_call[-2:] == ["/etc/containerd/certs.d/localhost:5001",
                              '[host."http://kind-registry:5000"]\n']
    # Add-ons: both applied and waited for.
    assert any(line.endswith("profiles/k8s/addons/ingress-nginx") for line in text)
    assert any(line.endswith("profiles/k8s/addons/metrics-server") for line in text)
    assert f"kubectl --context {CTX} rollout status deployment/ingress-nginx-controller -n " \
           "ingress-nginx --timeout=180s" in text
    # Every workload of the render is waited for, bounded.
    for target in ("deployment/frontend -n neotool-staging",
                   "deployment/router -n neotool-staging",
                   "statefulset/postgres -n neotool-data",
                   "statefulset/prometheus -n observability",
                   "statefulset/loki -n observability", "deployment/grafana -n observability"):
        assert any(f"rollout status {target} --timeout=" in line for line in text), target
    # Every kubectl that talks to a cluster names the mirror's context.
    for call in calls:
        if call[0] == "kubectl" and call[1] not in ("kustomize", "version"):
            assert call[1:3] == ["--context", CTX], call
    # The kind config the stand-in received is the generated one.
    received = standin.state_dir / "kind-config-neodev-staging.yaml"
    kind_config = yaml.safe_load(received.read_text())
    assert len(kind_config["nodes"]) == 3

    # Progress: every step reported running then ok, with a duration; nothing skipped.
    finals = [e for e in events if e.outcome != "running"]
    assert {e.outcome for e in finals} == {"ok"}
    assert all(e.duration is not None and e.duration >= 0 for e in finals)
    assert [e.step for e in finals][:2] == ["check-tools", "render"]
    assert "cluster-create" in [e.step for e in finals]
    assert report.exists and report.context == CTX
    assert json.loads(json.dumps(encode(report)))["cluster_name"] == "neodev-staging"


def test_second_run_reconciles_without_creating(standin, staging_plan, workspace):
    run_up(staging_plan, workspace)
    standin.clear_log()
    report, events = run_up(staging_plan, workspace)
    text = lines(standin.calls())
    assert not any(line.startswith("kind create") for line in text)
    assert not any(line.startswith("docker run") for line in text)
    assert not any(line.startswith("docker network connect") for line in text)
    skipped = {e.step for e in events if e.outcome == "skipped"}
    assert skipped == {"registry-create", "cluster-create", "registry-connect"}
    # Reconcile still re-applies the topology and waits for it.
    assert any(" apply --server-side " in line and line.endswith("rendered.yaml") for line in text)
    assert report.exists


def test_failure_in_the_middle_reports_the_step_and_a_rerun_rolls_forward(
        standin, staging_plan, workspace):
    standin.fail_on("docker push localhost:5001/neotool-frontend")
    events: list[ProgressStep] = []
    with pytest.raises(ClusterStepFailed) as failure:
        cluster_up(staging_plan, workspace, events.append)
    error = failure.value
    assert error.step == "image-push:frontend"
    assert error.returncode == 1
    assert "injected failure" in error.output
    assert "image-push:frontend" in error.message and "docker push" in error.message
    assert error.to_dict()["step"] == "image-push:frontend"
    assert events[-1] == ProgressStep("image-push:frontend", "failed", events[-1].duration,
                                      events[-1].detail)
    # Nothing after the failed step ran.
    assert not any(" apply --server-side " in line and line.endswith("rendered.yaml")
                   for line in lines(standin.calls()))
    assert standin.state()["clusters"] == ["neodev-staging"]

    standin.fail_on(None)
    standin.clear_log()
    report, events = run_up(staging_plan, workspace)
    text = lines(standin.calls())
    assert not any(line.startswith("kind create") for line in text)
    assert any(line.startswith("docker push localhost:5001/neotool-frontend:") for line in text)
    assert any(line.endswith("rendered.yaml") for line in text)
    assert {e.outcome for e in events if e.outcome != "running"} <= {"ok", "skipped"}
    assert report.exists


def test_missing_kind_fails_before_anything_changes(standin, staging_plan, workspace):
    standin.remove_tool("kind")
    events: list[ProgressStep] = []
    with pytest.raises(ClusterError) as failure:
        cluster_up(staging_plan, workspace, events.append)
    assert "go install sigs.k8s.io/kind" in failure.value.message
    assert "nothing was changed" in failure.value.message
    assert all(tuple(c[:2]) in READ_ONLY for c in standin.calls())
    assert not (workspace.cluster_dir / "staging").exists()
    assert events[-1].step == "check-tools" and events[-1].outcome == "failed"


def test_missing_docker_engine_is_reported_with_a_hint(standin, staging_plan, workspace):
    standin.fail_on("docker version")
    with pytest.raises(ClusterError) as failure:
        cluster_up(staging_plan, workspace)
    assert "docker-engine" in failure.value.message and "start the Docker engine" in \
        failure.value.message
    assert all(tuple(c[:2]) in READ_ONLY for c in standin.calls())


def test_status_reports_workloads_hpas_and_unready_pods(standin, staging_plan, workspace):
    run_up(staging_plan, workspace)
    canned = {"apiVersion": "v1", "kind": "List", "items": [
        {"kind": "Deployment", "metadata": {"name": "backend", "namespace": "neotool-staging"},
         "spec": {"replicas": 2}, "status": {"readyReplicas": 1}},
        {"kind": "HorizontalPodAutoscaler",
         "metadata": {"name": "backend", "namespace": "neotool-staging"},
         "spec": {"minReplicas": 2, "maxReplicas": 3,
                  "scaleTargetRef": {"kind": "Deployment", "name": "backend"},
                  "metrics": [{"type": "Resource", "resource": {
                      "name": "cpu",
                      "target": {"type": "Utilization", "averageUtilization": 70}}}]},
         "status": {"currentReplicas": 2, "desiredReplicas": 2}},
        {"kind": "Pod", "metadata": {"name": "backend-abc", "namespace": "neotool-staging"},
         "status": {"phase": "Pending", "containerStatuses": [
             {"name": "backend", "ready": False,
              "state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}}]}},
        {"kind": "Event", "type": "Warning", "reason": "Failed", "message": "pull failed",
         "involvedObject": {"kind": "Pod", "name": "backend-abc", "namespace": "neotool-staging"},
         "lastTimestamp": "2026-11-26T10:00:00Z"},
    ]}
    (standin.state_dir / "get-neotool-staging.json").write_text(json.dumps(canned))
    report = cluster_status(staging_plan, workspace)
    backend = next(w for w in report.workloads if w.name == "backend")
    assert (backend.ready, backend.desired, backend.ok) == (1, 2, False)
    assert report.hpas[0].metrics == ("cpu ?%/70%",)
    assert (report.hpas[0].current, report.hpas[0].desired) == (2, 2)
    issue = report.pods_not_ready[0]
    assert issue.name == "backend-abc"
    assert issue.reasons == ("backend: ImagePullBackOff (not found)", "event Failed: pull failed")
    assert not report.ready
    assert encode(report)["ready"] is False


def test_status_without_a_cluster_says_so(standin, staging_plan, workspace):
    report = cluster_status(staging_plan, workspace)
    assert not report.exists and report.workloads == ()
    assert not any(c[0] == "kubectl" and "get" in c for c in standin.calls())


def test_down_deletes_the_cluster_and_keeps_the_registry(standin, staging_plan, workspace):
    run_up(staging_plan, workspace)
    standin.clear_log()
    report = cluster_down(staging_plan, workspace)
    assert "kind delete cluster --name neodev-staging" in lines(standin.calls())
    assert standin.state()["clusters"] == []
    assert "kind-registry" in standin.state()["containers"]
    assert any("kind-registry" in note and "kept" in note for note in report.notes)
    assert not report.exists


def test_up_with_the_shipped_staging_profile_through_the_loader(standin, workspace):
    """The real profiles/staging.toml, loaded by the real loader, drives the same plan."""
    from neodev.config.loader import load_plan

    workspace.ensure_state_dir()
    workspace.secrets_file.write_text("POSTGRES_PASSWORD=from-secrets-file\n")
    plan = load_plan(workspace.root, str(REPO_ROOT / "profiles/staging.toml"),
                     environ={"NEOTOOL_ROOT": str(REPO_ROOT / "examples/neotool-mini")})
    report = cluster_up(plan, workspace)
    assert report.exists and report.cluster_name == "neodev-staging"
    text = lines(standin.calls())
    assert any(line.startswith("kind create cluster --name neodev-staging") for line in text)
    env_file = workspace.cluster_dir / "staging" / "secrets" / "db-credentials.env"
    assert "POSTGRES_PASSWORD=from-secrets-file" in env_file.read_text()

"""The cluster command plan as data (pure; the stand-in tests in tests/cluster run it)."""

from __future__ import annotations

from pathlib import Path

from neodev.cluster.commands import CommandResult, Guard, Step, run_steps
from neodev.cluster.images import ImageBuild
from neodev.cluster.plan import UpInputs, down_plan, rollout_targets, up_plan
from neodev.cluster.status import parse_namespace_list
from neodev.config.model import ClusterSpec
from neodev.protocol.cluster import ProgressStep

SPEC = ClusterSpec(environment="prod", cluster_name="neodev-prod",
                   overlay=Path("profiles/k8s/overlays/prod"), app_namespace="neotool-prod",
                   workers=1, registry_port=5005, rollout_timeout=90)


def inputs() -> UpInputs:
    image = ImageBuild("backend", Path("/w/backend"), Path("/w/backend/Dockerfile"),
                       "localhost:5005/neotool-backend:abc")
    docs = [{"kind": "Deployment", "metadata": {"name": "backend", "namespace": "neotool-prod"}},
            {"kind": "Service", "metadata": {"name": "backend", "namespace": "neotool-prod"}},
            {"kind": "StatefulSet", "metadata": {"name": "postgres", "namespace": "neotool-data"}}]
    return UpInputs(SPEC, Path("/s/kind.yaml"), Path("/s/rendered.yaml"), Path("/s/cm.yaml"),
                    Path("/repo/profiles/k8s"), (image,), rollout_targets(docs))


def test_up_plan_order_and_arguments():
    steps = up_plan(inputs())
    names = [s.name for s in steps]
    assert names == [
        "registry-create", "registry-start", "cluster-create", "kubeconfig",
        "registry-hosts:neodev-prod-control-plane", "registry-hosts:neodev-prod-worker",
        "registry-connect", "registry-configmap", "image-build:backend", "image-push:backend",
        "addon-apply:ingress-nginx", "addon-rollout:ingress-nginx",
        "addon-apply:metrics-server", "addon-rollout:metrics-server", "apply",
        "rollout:neotool-prod/deployment/backend", "rollout:neotool-data/statefulset/postgres"]
    by_name = {s.name: s for s in steps}
    assert "127.0.0.1:5005:5000" in by_name["registry-create"].argv
    assert by_name["cluster-create"].skip_if == Guard(("kind", "get", "clusters"), "line",
                                                      "neodev-prod")
    assert by_name["rollout:neotool-data/statefulset/postgres"].argv[-1] == "--timeout=90s"
    assert by_name["rollout:neotool-data/statefulset/postgres"].timeout > 90
    for step in steps:
        if step.argv[0] == "kubectl":
            assert step.argv[1:3] == ("--context", "kind-neodev-prod"), step.name
    assert down_plan(SPEC)[0].argv == ("kind", "delete", "cluster", "--name", "neodev-prod")


def test_guards():
    ok = CommandResult(("x",), 0, "neodev-a\nneodev-prod\n")
    assert Guard(("kind",), "line", "neodev-prod").satisfied(ok)
    assert not Guard(("kind",), "line", "neodev").satisfied(ok)
    assert not Guard(("kind",), "exit-zero").satisfied(CommandResult(("x",), 1))
    networks = CommandResult(("x",), 0, '{"kind":{}}')
    assert Guard(("docker",), "contains", '"kind"').satisfied(networks)


def test_runner_skips_guarded_steps_and_reports_progress():
    seen: list[tuple[str, ...]] = []

    def executor(argv, *, timeout, stdin=None):
        seen.append(tuple(argv))
        return CommandResult(tuple(argv), 0, "done\n")

    events: list[ProgressStep] = []
    steps = [Step("a", ("do", "a"), skip_if=Guard(("check", "a"), "line", "done")),
             Step("b", ("do", "b"))]
    finals = run_steps(steps, executor, events.append)
    assert seen == [("check", "a"), ("do", "b")]
    assert [(e.step, e.outcome) for e in events] == [("a", "running"), ("a", "skipped"),
                                                     ("b", "running"), ("b", "ok")]
    assert [f.outcome for f in finals] == ["skipped", "ok"]


def test_status_reasons_for_unschedulable_and_crashing_pods():
    data = {"items": [
        {"kind": "Pod", "metadata": {"name": "p1", "namespace": "n"},
         "status": {"phase": "Pending", "conditions": [
             {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
              "message": "0/2 nodes are available: 2 Insufficient cpu."}]}},
        {"kind": "Pod", "metadata": {"name": "p2", "namespace": "n"},
         "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
                    "containerStatuses": [{"name": "c", "ready": False, "state": {
                        "waiting": {"reason": "CrashLoopBackOff"}}}]}},
        {"kind": "Pod", "metadata": {"name": "ok", "namespace": "n"},
         "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}},
        {"kind": "StatefulSet", "metadata": {"name": "s", "namespace": "n"},
         "spec": {"replicas": 1}, "status": {}},
    ]}
    workloads, hpas, issues = parse_namespace_list(data)
    assert [(w.name, w.ready, w.desired) for w in workloads] == [("s", 0, 1)]
    assert hpas == []
    assert [(i.name, i.reasons) for i in issues] == [
        ("p1", ("Unschedulable: 0/2 nodes are available: 2 Insufficient cpu.",)),
        ("p2", ("c: CrashLoopBackOff",))]

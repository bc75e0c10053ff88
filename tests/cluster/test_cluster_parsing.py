"""The cluster mirror's small decisions, each pinned: what `cluster status` reads out of
kubectl's JSON (HPA metric readings, DaemonSets), when the registry counts as connected to the
kind network, and what a step that outlives its time limit does.

Pure parsing and the step runner; the registry guard also end to end with the recording
STAND-INS of tests/cluster/standin.py (kind cannot run here).
"""

from __future__ import annotations

import json
import sys
import time

import pytest

from neodev.cluster.commands import CommandResult, Guard, Step, run_steps, run_subprocess
from neodev.cluster.plan import registry_wiring_steps
from neodev.cluster.status import hpa_status, parse_namespace_list, workload_status
from neodev.errors import ClusterStepFailed
from neodev.protocol.cluster import ProgressStep
from tests.cluster.test_cluster_commands import lines, run_up


def hpa(current_metrics: list[dict] | None) -> dict:
    return {"kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "backend", "namespace": "neotool-prod"},
            "spec": {"minReplicas": 2, "maxReplicas": 10,
                     "scaleTargetRef": {"kind": "Deployment", "name": "backend"},
                     "metrics": [
                         {"type": "Resource", "resource": {
                             "name": "cpu",
                             "target": {"type": "Utilization", "averageUtilization": 70}}},
                         {"type": "Resource", "resource": {
                             "name": "memory",
                             "target": {"type": "Utilization", "averageUtilization": 80}}}]},
            "status": {"currentReplicas": 3, "desiredReplicas": 4,
                       **({"currentMetrics": current_metrics} if current_metrics else {})}}


def reading(name: str, value: int) -> dict:
    return {"type": "Resource",
            "resource": {"name": name, "current": {"averageUtilization": value,
                                                   "averageValue": "300m"}}}


def test_hpa_readings_pair_each_target_with_its_current_value() -> None:
    # The server lists current metrics in its own order: each is matched by name.
    status = hpa_status(hpa([reading("memory", 62), reading("cpu", 45)]))
    assert status.metrics == ("cpu 45%/70%", "memory 62%/80%")
    assert (status.target, status.min_replicas, status.max_replicas) == (
        "Deployment/backend", 2, 10)
    assert (status.current, status.desired) == (3, 4)
    # metrics-server without data yet (no currentMetrics, or a reading without a value)
    assert hpa_status(hpa(None)).metrics == ("cpu ?%/70%", "memory ?%/80%")
    partial = hpa([reading("cpu", 45), {"type": "Resource", "resource": {"name": "memory",
                                                                           "current": {}}}])
    assert hpa_status(partial).metrics == ("cpu 45%/70%", "memory ?%/80%")


def test_a_daemonset_counts_its_scheduled_and_ready_pods_not_replicas() -> None:
    daemonset = {"kind": "DaemonSet", "metadata": {"name": "node-exporter",
                                                   "namespace": "observability"},
                 "spec": {}, "status": {"desiredNumberScheduled": 3, "numberReady": 2,
                                        "readyReplicas": 9}}
    status = workload_status(daemonset)
    assert (status.kind, status.name, status.ready, status.desired, status.ok) == (
        "DaemonSet", "node-exporter", 2, 3, False)
    workloads, hpas, pods = parse_namespace_list({"items": [
        daemonset, {"kind": "StatefulSet", "metadata": {"name": "loki"},
                    "spec": {"replicas": 1}, "status": {"readyReplicas": 1}}]})
    assert [(w.kind, w.ready, w.desired) for w in workloads] == [("DaemonSet", 2, 3),
                                                                  ("StatefulSet", 1, 1)]
    assert hpas == [] and pods == []


def test_the_registry_counts_as_connected_only_to_the_kind_network_itself() -> None:
    from neodev.config.model import ClusterSpec

    spec = ClusterSpec(environment="staging", cluster_name="c", overlay="/x",
                       app_namespace="neotool-staging")
    [connect] = [s for s in registry_wiring_steps(spec, "/cm.yaml")  # type: ignore[arg-type]
                 if s.name == "registry-connect"]
    guard = connect.skip_if
    assert guard is not None

    def inspected(networks: dict, code: int = 0) -> CommandResult:
        return CommandResult(guard.argv, code, json.dumps(networks))

    assert guard.satisfied(inspected({"bridge": {}, "kind": {"IPAddress": "172.18.0.5"}}))
    assert not guard.satisfied(inspected({"bridge": {}}))
    assert not guard.satisfied(inspected({"bridge": {}, "kind-old": {}, "mykind": {}}))
    assert not guard.satisfied(inspected({"kind": {}}, code=1))  # inspect failed


def test_a_registry_on_another_kind_network_is_connected_again(standin, staging_plan,
                                                                workspace) -> None:
    run_up(staging_plan, workspace)
    state = standin.state()
    state["containers"]["kind-registry"]["networks"] = ["bridge", "kind-legacy"]
    (standin.state_dir / "state.json").write_text(json.dumps(state))
    standin.clear_log()
    _, events = run_up(staging_plan, workspace)
    assert "docker network connect kind kind-registry" in lines(standin.calls())
    assert "registry-connect" not in {e.step for e in events if e.outcome == "skipped"}


def test_a_step_that_outlives_its_time_limit_fails_naming_it_and_stops_the_plan() -> None:
    slow = Step("rollout:slow", (sys.executable, "-c", "import time; time.sleep(30)"),
                timeout=0.5)
    after = Step("after", (sys.executable, "-c", "pass"))
    progress: list[ProgressStep] = []
    began = time.monotonic()
    with pytest.raises(ClusterStepFailed) as failure:
        run_steps([slow, after], run_subprocess, progress.append)
    assert time.monotonic() - began < 10  # killed at its limit, not waited for
    error = failure.value
    assert (error.step, error.returncode) == ("rollout:slow", 124)
    assert "timed out after 0.5s" in error.output
    assert [(p.step, p.outcome) for p in progress] == [("rollout:slow", "running"),
                                                       ("rollout:slow", "failed")]
    assert "timed out after 0.5s" in progress[-1].detail


def test_each_command_gets_its_steps_limit_and_a_guard_at_most_a_minute() -> None:
    asked: list[tuple[tuple[str, ...], float]] = []

    def executor(argv, *, timeout, stdin=None):  # type: ignore[no-untyped-def]
        asked.append((tuple(argv), timeout))
        return CommandResult(tuple(argv), 1 if argv[0] == "probe" else 0)

    steps = [Step("long", ("build",), skip_if=Guard(("probe",), "exit-zero"), timeout=1800),
             Step("short", ("apply",), skip_if=Guard(("probe",), "exit-zero"), timeout=5)]
    run_steps(steps, executor, lambda step: None)
    assert asked == [(("probe",), 60.0), (("build",), 1800), (("probe",), 5), (("apply",), 5)]

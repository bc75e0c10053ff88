"""Turn `kubectl get ... -o json` output into the cluster report's parts (pure parsing).

Per workload: ready/desired replicas. Per HPA: bounds, current/desired replicas and metric
readings. Per pod that is not ready: why, from its container states, its scheduling condition
and the Warning events about it (the last few, newest last).
"""

from __future__ import annotations

from neodev.jsontypes import JsonObject
from neodev.protocol.cluster import HpaStatus, PodIssue, WorkloadStatus

MAX_EVENTS_PER_POD = 3


def workload_status(item: JsonObject) -> WorkloadStatus:
    """Ready/desired of a Deployment, StatefulSet or DaemonSet."""
    meta, spec, status = item["metadata"], item.get("spec", {}), item.get("status", {})
    if item["kind"] == "DaemonSet":
        desired, ready = status.get("desiredNumberScheduled", 0), status.get("numberReady", 0)
    else:
        desired, ready = spec.get("replicas", 1), status.get("readyReplicas", 0)
    return WorkloadStatus(meta.get("namespace", ""), item["kind"], meta["name"], ready, desired)


def _metric_readings(item: JsonObject) -> tuple[str, ...]:
    current = {}
    for metric in item.get("status", {}).get("currentMetrics") or []:
        resource = metric.get("resource") or {}
        value = (resource.get("current") or {}).get("averageUtilization")
        if resource.get("name"):
            current[resource["name"]] = value
    readings = []
    for metric in item.get("spec", {}).get("metrics") or []:
        resource = metric.get("resource") or {}
        target = (resource.get("target") or {}).get("averageUtilization")
        name = resource.get("name", metric.get("type", "?"))
        value = current.get(name)
        readings.append(f"{name} {'?' if value is None else value}%/{target}%")
    return tuple(readings)


def hpa_status(item: JsonObject) -> HpaStatus:
    """Bounds, replicas and readings of an autoscaling/v2 HorizontalPodAutoscaler."""
    meta, spec, status = item["metadata"], item.get("spec", {}), item.get("status", {})
    ref = spec.get("scaleTargetRef", {})
    return HpaStatus(meta.get("namespace", ""), meta["name"],
                     f"{ref.get('kind', '?')}/{ref.get('name', '?')}",
                     spec.get("minReplicas", 1), spec.get("maxReplicas", 0),
                     status.get("currentReplicas", 0), status.get("desiredReplicas", 0),
                     _metric_readings(item))


def _pod_ready(pod: JsonObject) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _pod_reasons(pod: JsonObject) -> list[str]:
    status = pod.get("status", {})
    reasons: list[str] = []
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            reasons.append(f"{condition.get('reason', 'Unschedulable')}: "
                           f"{condition.get('message', '')}".rstrip(": "))
    for field in ("initContainerStatuses", "containerStatuses"):
        for container in status.get(field) or []:
            state = container.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason") not in (None, "PodInitializing"):
                reasons.append(f"{container['name']}: {waiting['reason']}"
                               + (f" ({waiting['message']})" if waiting.get("message") else ""))
            elif terminated and terminated.get("exitCode", 0) != 0:
                reasons.append(f"{container['name']}: {terminated.get('reason', 'Error')} "
                               f"(exit {terminated.get('exitCode')})")
            elif not container.get("ready") and state.get("running"):
                reasons.append(f"{container['name']}: running, readiness probe not passing yet")
    return reasons


def _event_key(event: JsonObject) -> str:
    return (event.get("lastTimestamp") or event.get("eventTime")
            or event.get("metadata", {}).get("creationTimestamp") or "")


def pod_issues(pods: list[JsonObject], events: list[JsonObject]) -> list[PodIssue]:
    """Pods that are not Ready (and not Succeeded), with their reasons and Warning events."""
    warnings: dict[tuple[str, str], list[JsonObject]] = {}
    for event in events:
        obj = event.get("involvedObject") or {}
        if event.get("type") == "Warning" and obj.get("kind") == "Pod":
            warnings.setdefault((obj.get("namespace", ""), obj.get("name", "")), []).append(event)
    issues = []
    for pod in pods:
        phase = pod.get("status", {}).get("phase", "Unknown")
        if phase == "Succeeded" or _pod_ready(pod):
            continue
        meta = pod["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        reasons = _pod_reasons(pod)
        for event in sorted(warnings.get(key, []), key=_event_key)[-MAX_EVENTS_PER_POD:]:
            reasons.append(f"event {event.get('reason', '?')}: {event.get('message', '').strip()}")
        issues.append(PodIssue(key[0], key[1], phase, tuple(reasons)))
    return issues


def parse_namespace_list(data: JsonObject) -> tuple[list[WorkloadStatus], list[HpaStatus],
                                                        list[PodIssue]]:
    """Split one `kubectl get deployments,statefulsets,hpa,pods,events -o json` List."""
    items = data.get("items") or []
    workloads = [workload_status(i) for i in items
                 if i.get("kind") in ("Deployment", "StatefulSet", "DaemonSet")]
    hpas = [hpa_status(i) for i in items if i.get("kind") == "HorizontalPodAutoscaler"]
    pods = [i for i in items if i.get("kind") == "Pod"]
    events = [i for i in items if i.get("kind") == "Event"]
    return workloads, hpas, pod_issues(pods, events)

"""cluster up / status / down: the workflows the CLI and the daemon call.

Blocking functions (they run external commands): the daemon calls them in a worker thread and
turns each `ProgressStep` it is handed into a `ProgressEvent` on its event stream. Order of
`cluster_up`: check the tools (nothing is changed when one is missing), render and validate the
topology with the local layer (a broken overlay stops here too), then the command plan, then
the status report.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from neodev.cluster.commands import Executor, run_steps, run_subprocess
from neodev.cluster.images import neotool_root, plan_images
from neodev.cluster.kindconfig import write_kind_config
from neodev.cluster.plan import (
    REGISTRY_NAME,
    UpInputs,
    context_name,
    down_plan,
    rollout_targets,
    status_argv,
    up_plan,
)
from neodev.cluster.render import (
    DATA_NAMESPACE,
    OBSERVABILITY_NAMESPACE,
    REQUIRED_SECRET_VARIABLES,
    registry_hosting_configmap,
    render_local,
)
from neodev.cluster.status import parse_namespace_list
from neodev.cluster.tools import require_tools
from neodev.config.model import ClusterSpec, EnvironmentPlan
from neodev.configstate import ensure_secrets
from neodev.errors import ClusterError, ConfigError, NeodevError
from neodev.paths import WorkspacePaths
from neodev.protocol.cluster import (
    ClusterReport,
    HpaStatus,
    PodIssue,
    ProgressStep,
    WorkloadStatus,
)
from neodev.statefile import write_private

ProgressCallback = Callable[[ProgressStep], None]
REGISTRY_KEPT_NOTE = (f"registry container {REGISTRY_NAME!r} kept: every profile's mirror shares "
                      f"it and it holds the pushed images (remove: docker rm -f {REGISTRY_NAME})")


def _ignore(_: ProgressStep) -> None:
    return None


class _Recorder:
    """Forwards progress and keeps each step's final outcome for the report."""

    def __init__(self, progress: ProgressCallback) -> None:
        self.progress = progress
        self.steps: list[ProgressStep] = []

    def __call__(self, step: ProgressStep) -> None:
        if step.outcome != "running":
            self.steps.append(step)
        self.progress(step)

    @contextlib.contextmanager
    def step(self, name: str, detail: str = "") -> Iterator[None]:
        """Report an in-process step (tool check, render) like a command step."""
        self(ProgressStep(name, "running", None, detail))
        started = time.monotonic()
        try:
            yield
        except NeodevError as exc:
            self(ProgressStep(name, "failed", time.monotonic() - started, exc.message))
            raise
        self(ProgressStep(name, "ok", time.monotonic() - started, detail))


def cluster_spec(plan: EnvironmentPlan) -> ClusterSpec:
    """The plan's cluster section.

    Raises:
        ConfigError: the profile has no [cluster] section.
    """
    if plan.cluster is None:
        raise ConfigError(f"profile {plan.profile!r} has no [cluster] section (valid: the "
                          "staging and prod profiles)", file=str(plan.profile_file), key="cluster")
    return plan.cluster


def _overlay(plan: EnvironmentPlan, spec: ClusterSpec) -> Path:
    overlay = spec.overlay if spec.overlay.is_absolute() else plan.workspace / spec.overlay
    return overlay.resolve()


def _k8s_dir(overlay: Path, plan: EnvironmentPlan) -> Path:
    """profiles/k8s, two levels above `overlays/<env>`; it must hold the add-ons."""
    k8s_dir = overlay.parent.parent
    if not (k8s_dir / "addons").is_dir():
        raise ConfigError(f"overlay {overlay} is not under a k8s directory with addons/ "
                          "(expected profiles/k8s/overlays/<environment>)",
                          file=str(plan.profile_file), key="cluster.overlay")
    return k8s_dir


def _report_base(plan: EnvironmentPlan, spec: ClusterSpec) -> dict[str, Any]:
    port = "" if spec.ingress_http_port == 80 else f":{spec.ingress_http_port}"
    return {"profile": plan.profile, "cluster_name": spec.cluster_name,
            "context": context_name(spec), "registry": f"localhost:{spec.registry_port}",
            "ingress_url": f"http://127.0.0.1{port}/"}


def _exists(spec: ClusterSpec, executor: Executor) -> bool:
    result = executor(("kind", "get", "clusters"), timeout=60)
    if not result.ok:
        raise ClusterError(f"`kind get clusters` failed: {result.tail()}")
    return spec.cluster_name in (line.strip() for line in result.stdout.splitlines())


def _collect(plan: EnvironmentPlan, spec: ClusterSpec, executor: Executor, recorder: _Recorder,
             notes: list[str]) -> ClusterReport:
    workloads: list[WorkloadStatus] = []
    hpas: list[HpaStatus] = []
    issues: list[PodIssue] = []
    with recorder.step("status"):
        exists = _exists(spec, executor)
        for namespace in (spec.app_namespace, DATA_NAMESPACE, OBSERVABILITY_NAMESPACE):
            if not exists:
                break
            result = executor(status_argv(spec, namespace), timeout=60)
            if not result.ok:
                raise ClusterError(f"reading the status of namespace {namespace} failed: "
                                   f"{result.tail()}")
            try:
                data = json.loads(result.stdout or "{}")
            except json.JSONDecodeError as exc:
                raise ClusterError(f"kubectl returned invalid JSON for {namespace}: {exc}") from exc
            w, h, p = parse_namespace_list(data)
            workloads += w
            hpas += h
            issues += p
    return ClusterReport(**_report_base(plan, spec), exists=exists, workloads=tuple(workloads),
                         hpas=tuple(hpas), pods_not_ready=tuple(issues),
                         steps=tuple(recorder.steps), notes=tuple(notes))


def cluster_up(plan: EnvironmentPlan, paths: WorkspacePaths, progress: ProgressCallback = _ignore,
               executor: Executor = run_subprocess,
               which: Callable[[str], str | None] = shutil.which) -> ClusterReport:
    """Create or reconcile the profile's kind mirror and report its state.

    Args:
        plan: the loaded profile (must have a cluster section).
        paths: the workspace's state paths (the local layer goes to cluster_dir/<profile>).
        progress: called with each step as `running` and then with its outcome.
        executor: runs external commands (tests inject stand-ins).
        which: finds programs on PATH.

    Returns:
        The report after the rollouts (deployments, HPAs, pods not ready).

    Raises:
        ClusterError: a tool is missing (nothing changed) or a step failed
            (`ClusterStepFailed`, naming the step; re-running rolls forward).
        ConfigError: the overlay, NEOTOOL_ROOT or an image context is invalid (nothing changed).
    """
    spec = cluster_spec(plan)
    recorder = _Recorder(progress)
    with recorder.step("check-tools"):
        require_tools(executor, which)
    with recorder.step("render", str(_overlay(plan, spec))):
        overlay = _overlay(plan, spec)
        k8s_dir = _k8s_dir(overlay, plan)
        paths.ensure_state_dir()
        layer_dir = paths.cluster_dir / plan.profile
        root = neotool_root(plan.variables, plan.workspace, plan.profile_file)
        images = plan_images(spec, root, k8s_dir, plan.profile_file)
        # Missing secrets come from (or are generated into) .neodev/secrets.env, as for the
        # compose stack: the mirror then uses the same passwords as the dev environment.
        secrets, generated = ensure_secrets(paths, REQUIRED_SECRET_VARIABLES, plan.variables)
        notes = [f"{name} not set in .env: generated one into {paths.secrets_file}"
                 for name in generated]
        rendered = render_local(spec, overlay, layer_dir, {i.base_name: i.ref for i in images},
                                {**plan.variables, **secrets}, executor)
        kind_config = write_kind_config(spec, layer_dir / "kind-config.yaml")
        configmap = layer_dir / "local-registry-hosting.yaml"
        write_private(configmap, yaml.safe_dump(registry_hosting_configmap(spec.registry_port)))
    inputs = UpInputs(spec, kind_config, rendered.rendered_path, configmap, k8s_dir,
                      tuple(images), rollout_targets(rendered.docs))
    run_steps(up_plan(inputs), executor, recorder)
    return _collect(plan, spec, executor, recorder, notes)


def cluster_status(plan: EnvironmentPlan, paths: WorkspacePaths,
                   progress: ProgressCallback = _ignore, executor: Executor = run_subprocess,
                   which: Callable[[str], str | None] = shutil.which) -> ClusterReport:
    """Report the mirror's state without changing anything (exists=False when there is none).

    Raises:
        ClusterError: kind/kubectl missing, or kubectl could not read the cluster.
    """
    spec = cluster_spec(plan)
    recorder = _Recorder(progress)
    with recorder.step("check-tools"):
        require_tools(executor, which)
    return _collect(plan, spec, executor, recorder, [])


def cluster_down(plan: EnvironmentPlan, paths: WorkspacePaths,
                 progress: ProgressCallback = _ignore, executor: Executor = run_subprocess,
                 which: Callable[[str], str | None] = shutil.which) -> ClusterReport:
    """Delete the profile's kind cluster; the shared registry container is kept (and said so).

    Raises:
        ClusterError: a tool is missing or `kind delete cluster` failed.
    """
    spec = cluster_spec(plan)
    recorder = _Recorder(progress)
    with recorder.step("check-tools"):
        require_tools(executor, which)
    run_steps(down_plan(spec), executor, recorder)
    notes = [REGISTRY_KEPT_NOTE,
             f"local layer and generated secrets kept in {paths.cluster_dir / plan.profile}"]
    return ClusterReport(**_report_base(plan, spec), exists=False, steps=tuple(recorder.steps),
                         notes=tuple(notes))

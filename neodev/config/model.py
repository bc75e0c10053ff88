"""The validated, frozen model of one environment: what the loader produces and everyone reads.

The loader (`neodev.config.loader`) turns a profile TOML, the compose files it names, `.env` and
the process environment into an `EnvironmentPlan`. Nothing here does I/O. Drivers take the specs
whole (`ContainerSpec`, `ProcessSpec`); the engine only looks at the `UnitSpec` part.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SECRET_KEY_PATTERN = re.compile(
    r"PASSWORD|SECRET|TOKEN|KEY|CREDENTIAL"
    r"|(?:^|[_.-])(?:PASS|PASSWD|PASSPHRASE|AUTH|AUTHORIZATION|CREDS)$", re.IGNORECASE)
"""A key that names a credential: one of the first words anywhere in it (`DB_PASSWORD`,
`API_CREDENTIALS`), or a key ending in one of the others as a word of its own (`DB_PASS`,
`AUTH`, `BASIC_AUTH`; not `GF_AUTH_ANONYMOUS_ENABLED`, a setting about auth, nor `BYPASS`)."""
MASK = "********"


class Frozen(BaseModel):
    """Base of every model: immutable, and unknown fields are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class UnitKind(StrEnum):
    CONTAINER = "container"
    PROCESS = "process"


class RestartPolicy(StrEnum):
    NO = "no"
    ON_FAILURE = "on-failure"
    ALWAYS = "always"


class DependencyCondition(StrEnum):
    STARTED = "started"
    HEALTHY = "healthy"
    COMPLETED_SUCCESSFULLY = "completed_successfully"


class Dependency(Frozen):
    """One edge of the dependency graph: wait for `service` to reach `condition`."""

    service: str
    """Name of another unit of the same plan."""
    condition: DependencyCondition = DependencyCondition.STARTED
    """What the dependency must reach before this unit starts."""


class Backoff(Frozen):
    """Exponential restart backoff: initial * factor**n, capped; reset after `reset_after` s up."""

    initial: float = 1.0
    """Seconds before the first restart."""
    factor: float = 2.0
    """Multiplier for each further consecutive restart."""
    maximum: float = 30.0
    """Cap on the delay, in seconds."""
    reset_after: float = 30.0
    """A unit that stayed up this many seconds starts the next backoff from `initial` again."""


class Probe(Frozen):
    """A readiness (or liveness) check, the same strategies for containers and processes.

    Exactly one of the kind-specific fields is used, chosen by `kind`:
    `http` -> `url` and `expect_status`; `tcp` -> `host` and `port`; `exec` -> `command`;
    `log` -> `pattern` (a regular expression matched against each output line);
    `docker` -> the container's own healthcheck status as Docker reports it.
    """

    kind: Literal["http", "tcp", "exec", "log", "docker"]
    url: str | None = None
    """For http: the URL to GET (use 127.0.0.1, not localhost)."""
    expect_status: int = 200
    """For http: the status code that means ready."""
    host: str = "127.0.0.1"
    """For tcp: host to connect to."""
    port: int | None = None
    """For tcp: port to connect to."""
    command: tuple[str, ...] = ()
    """For exec: argv run on the host; exit 0 means ready."""
    pattern: str | None = None
    """For log: regular expression a line of output must match."""
    interval: float = 1.0
    """Seconds between attempts."""
    timeout: float = 5.0
    """Seconds one attempt may take."""
    retries: int = 3
    """Consecutive failures (after start_period) before the unit counts as unhealthy."""
    start_period: float = 0.0
    """Seconds after start during which failures do not count."""


class HealthcheckSpec(Frozen):
    """A compose healthcheck, handed to Docker as is (durations in seconds here)."""

    test: tuple[str, ...]
    """["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"]."""
    interval: float = 30.0
    timeout: float = 30.0
    retries: int = 3
    start_period: float = 0.0


class PortMapping(Frozen):
    """A published container port."""

    container_port: int
    host_port: int | None
    """None = Docker picks a free port."""
    host_ip: str = "127.0.0.1"
    protocol: Literal["tcp", "udp"] = "tcp"


class VolumeMount(Frozen):
    """A named volume or a bind mount."""

    type: Literal["volume", "bind"]
    source: str
    """Volume name (already prefixed with the project name) or absolute host path."""
    target: str
    read_only: bool = False


class MetricsEndpoint(Frozen):
    """Where Prometheus scrapes a unit's metrics (Prometheus text format over HTTP).

    For a process the port is a port on the host (reached from the Prometheus container as
    `host.docker.internal`); for a container it is a container port, reached on the project
    network by service name, so it need not be published.
    """

    path: str = "/metrics"
    """HTTP path of the metrics endpoint (starts with '/')."""
    port: int
    """Process: the host port it listens on; container: the container port."""


class UnitSpec(Frozen):
    """What the engine needs to know about any unit, whatever runs it."""

    name: str
    kind: UnitKind
    depends_on: tuple[Dependency, ...] = ()
    restart: RestartPolicy = RestartPolicy.NO
    backoff: Backoff = Field(default_factory=Backoff)
    readiness: Probe | None = None
    """How to tell the unit is ready; None = ready once it stayed up a moment (settle time)."""
    liveness: Probe | None = None
    """Checked after the unit is ready; `retries` failures in a row restart it (Kubernetes'
    liveness semantics: period = interval, failure threshold = retries)."""
    stop_grace: float = 10.0
    """Seconds between the polite stop signal and the kill."""
    optional: bool = False
    """Not needed for the environment to count as ready: a failure is reported, not fatal."""


class ContainerSpec(UnitSpec):
    """A compose service run as a container."""

    kind: UnitKind = UnitKind.CONTAINER
    service: str
    """Compose service name (the `com.docker.compose.service` label)."""
    image: str
    image_variable: str | None = None
    """The environment variable that overrides the image (e.g. NEODEV_POSTGRES_IMAGE)."""
    compose_file: Path | None = None
    """The compose file that defines the service (for compose's own labels: `docker compose`
    then lists, logs, stops and removes what neodev started)."""
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    environment: dict[str, str] = Field(default_factory=dict)
    ports: tuple[PortMapping, ...] = ()
    volumes: tuple[VolumeMount, ...] = ()
    healthcheck: HealthcheckSpec | None = None
    extra_hosts: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    user: str | None = None
    working_dir: str | None = None
    stop_signal: str | None = None
    metrics: MetricsEndpoint | None = None
    """Prometheus metrics endpoint (profile `[services.<name>] metrics`); None = not scraped."""


class ProcessSpec(UnitSpec):
    """A local process (backend, frontend, router) supervised with hot reload."""

    kind: UnitKind = UnitKind.PROCESS
    cwd: Path
    command: tuple[str, ...]
    """argv; a profile string command is split with shlex."""
    env: dict[str, str] = Field(default_factory=dict)
    """Environment added to the inherited one (.env + profile env, interpolated)."""
    port: int | None = None
    """The port the process listens on (for doctor's free-port check and URLs)."""
    extra_ports: tuple[int, ...] = ()
    """Other host ports the process listens on (the router's health listener): checked before
    a start and moved with the instance's port block like `port`."""
    watch: tuple[str, ...] = ()
    """Glob patterns, relative to cwd, whose changes trigger a reload."""
    ignore: tuple[str, ...] = ()
    """Glob patterns never triggering a reload (added to the built-in defaults)."""
    reload: Literal["restart", "none"] = "restart"
    build: tuple[str, ...] | None = None
    """Optional argv run before a reload restart; on failure the old process keeps running."""
    debounce_ms: int = 300
    """Longest grouping of a burst of changes into one batch, counted from its first change."""
    watch_step_ms: int = 10
    """Quiet time after the last change that ends a batch."""
    watch_settle_ms: int = 2
    """The same for a batch of one file that is complete (closed after writing, moved into
    place, deleted): at most watch_step_ms."""
    metrics: MetricsEndpoint | None = None
    """Prometheus metrics endpoint (profile `metrics`); None = not scraped."""


def cwd_problem(cwd: Path, *, is_dir: Callable[[Path], bool] = Path.is_dir,
                is_file: Callable[[Path], bool] = Path.is_file) -> str | None:
    """What is wrong with a process's working directory, or None when it is a directory.

    The one wording of that problem, for the loader's warning, doctor, and the process
    driver's refusal to start or build.

    Args:
        cwd: The working directory (`ProcessSpec.cwd`).
        is_dir, is_file: How to look at the disk (the loader records what it looks at).
    """
    if is_dir(cwd):
        return None
    return f"working directory {cwd} {'is not a directory' if is_file(cwd) else 'does not exist'}"


def host_port(plan: EnvironmentPlan, declared: int) -> int:
    """The host port the instance uses for a port the profile declares."""
    return plan.port_map.get(declared, declared)


def network_name(project: str) -> str:
    """The project's network, named as compose names it (`<project>_default`)."""
    return f"{project}_default"


class ClusterSpec(Frozen):
    """How a profile mirrors its Kubernetes topology on a local kind cluster."""

    environment: Literal["staging", "prod"]
    cluster_name: str
    """kind cluster name (`neodev-<profile>`)."""
    overlay: Path
    """Kustomize overlay directory for this environment."""
    app_namespace: str
    workers: int = 1
    """kind worker nodes besides the control plane."""
    resource_scale: float = 0.25
    """Factor applied to CPU/memory requests and limits so the mirror fits a laptop."""
    storage_class: str = "standard"
    pvc_size: str = "1Gi"
    registry_port: int = 5001
    ingress_http_port: int = 80
    ingress_https_port: int = 443
    rollout_timeout: float = 300.0
    images: dict[str, str] = Field(default_factory=dict)
    """Logical image name -> local build context (relative to NEOTOOL_ROOT)."""


class EnvironmentPlan(Frozen):
    """Everything one profile resolves to, validated and frozen."""

    profile: str
    project: str
    """Compose project name; containers are `<project>-<service>-1`."""
    workspace: Path
    profile_file: Path
    compose_files: tuple[Path, ...] = ()
    env_file: Path | None = None
    network: str
    """Project network name (`<project>_default`, as compose names it)."""
    containers: dict[str, ContainerSpec] = Field(default_factory=dict)
    processes: dict[str, ProcessSpec] = Field(default_factory=dict)
    volumes: tuple[str, ...] = ()
    """Named volumes (project-prefixed) the containers use."""
    cluster: ClusterSpec | None = None
    variables: dict[str, str] = Field(default_factory=dict)
    """The resolved variable environment (.env + process env + generated secrets), for display."""
    secret_names: tuple[str, ...] = ()
    """Variables from a secret source whatever their name: the profile's `[project] secrets` and
    the keys of `.neodev/secrets.env` (their values are masked everywhere)."""
    warnings: tuple[str, ...] = ()
    """Non-fatal findings of the loader (unset variables, missing working directories...)."""
    log_lines: int = 5_000
    """Output lines the daemon keeps in memory per unit (older ones are in `.neodev/logs/`)."""
    profile_project: str = ""
    """The project name the profile gives (`[project] name`, else the compose `name:`): what
    the instances of one profile have in common. `project` is this instance's own name."""
    profile_ports: bool = True
    """This instance holds the profile's own host ports (the first instance of the profile);
    otherwise its ports are a block (`port_block`)."""
    port_block: int | None = None
    """First host port of the instance's block; None with the profile's ports, or while a
    block is still to be allocated (the daemon does it at its start)."""
    port_map: dict[int, int] = Field(default_factory=dict)
    """Declared host port -> the host port this instance uses (empty: the profile's own)."""
    legacy_resources: bool = False
    """This workspace ran the project before resources carried a workspace label: unlabelled
    volumes and containers of the project are its own (adopted, not refused)."""

    @property
    def units(self) -> dict[str, UnitSpec]:
        """Every unit by name, containers first."""
        return {**self.containers, **self.processes}


def is_secret_key(key: str) -> bool:
    """True when a key names a secret (`SECRET_KEY_PATTERN`, any case)."""
    return bool(SECRET_KEY_PATTERN.search(key))


def mask_secrets(value: object, key: str = "") -> object:
    """A copy of a JSON-like structure with every value under a secret-looking key masked."""
    if isinstance(value, dict):
        return {k: mask_secrets(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_secrets(v, key) for v in value]
    if key and is_secret_key(key) and value not in (None, ""):
        return MASK
    return value

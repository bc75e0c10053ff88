"""The profile TOML schema (`profiles/<name>.toml`), validated with pydantic (unknown keys fail).

A profile names the compose files and `.env` of an environment and adds what compose cannot
say: the local processes, restart/backoff/readiness overrides for containers, and the cluster
mirror settings. String values are interpolated like compose values (`${NEOTOOL_ROOT}`,
`${POSTGRES_DB:-neotool_dev}`); `@{service:port}` is the host port a container's port is published
on, `@{process:port}` the one a process's `port`/`extra_ports` has in this instance (both
resolved when the process starts). Relative paths are relative to the profile file's directory;
a relative `NEOTOOL_ROOT` is relative to the workspace root.

```toml
[project]
name = "neotool"                                   # compose project name (default: compose
                                                   # file's `name:`, else "neotool")
compose = ["../compose/docker-compose.local.yml"]
env_file = "../.env"                               # optional; a missing file is fine
secrets = ["POSTGRES_PASSWORD"]                    # generated into .neodev/secrets.env
log_lines = 5000                                   # output lines kept per unit in memory

[services.postgres]                                # per-container overrides
optional = false                                   # true: start --wait succeeds without it
restart = "on-failure"                             # no | on-failure | always
backoff = { initial = 1, factor = 2, maximum = 30 }
readiness = { tcp = 5432 }                         # replaces the compose healthcheck probe
                                                   # (from the host: the published port)
liveness = { tcp = 5432, interval = 10, retries = 3 }  # restart after 3 failures in a row
depends_on = { other = "healthy" }                 # added to the compose depends_on
metrics = { path = "/metrics", port = 9187 }       # Prometheus scrapes <service>:<port> on the
                                                   # project network (a container port)

[processes.backend]
cwd = "${NEOTOOL_ROOT}/backend"
command = "./gradlew run"                          # string (shlex-split) or list
port = 8080
extra_ports = [8081]                               # other listeners (moved like `port`)
env = { DATABASE_URL = "jdbc:postgresql://127.0.0.1:@{postgres:5432}/neotool_dev",
        PORT = "@{backend:8080}" }                 # the port this instance gives it
readiness = { http = "http://127.0.0.1:8080/health", start_period = 120 }  # moved too
#           or tcp = 4000 | exec = ["cmd", "arg"] | log = "regex"; plus interval, timeout
#           (one attempt), retries, start_period (failures ignored meanwhile), expect_status
watch = ["src/**"]
ignore = ["**/*.tmp"]
watch_step_ms = 10                                 # quiet time that ends a batch of changes
watch_settle_ms = 2                                # ... when the one changed file is complete
reload = "restart"                                 # restart | none
build = "./gradlew classes"                        # run before a reload restart
restart = "on-failure"
depends_on = { postgres = "healthy" }              # started | healthy | completed_successfully
metrics = "/metrics"                               # Prometheus scrapes this path on `port`
#         or { path = "/metrics", port = 8081 }    # another port (path defaults to /metrics)
#         or false                                 # not scraped (the default when absent)

[cluster]                                          # staging / prod: see model.ClusterSpec
environment = "staging"
overlay = "k8s/overlays/staging"
workers = 1
```

`metrics` (processes and `[services.<name>]`): where Prometheus scrapes the unit. neodev writes
one Prometheus file_sd target file per running unit that has it (`neodev.telemetry.targets`).
A string is the path on the unit's own port: a process's `port`, or a container's only
container port (a container with several must use the table form). A process is reached from
the Prometheus container as `host.docker.internal:<port>`, so it must listen on the addresses in
`NEODEV_BIND_HOSTS` (docs/decisions/loopback-and-prometheus.md); a container is reached on the
project network as `<service>:<port>`.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from neodev.config.globs import glob_problem
from neodev.config.hints import brief, did_you_mean
from neodev.config.interpolate import line_for
from neodev.config.tomlsrc import read_profile_file

__all__ = ["ProfileFile", "read_profile_file", "validate_profile"]
from neodev.errors import ConfigError

Condition = Literal["started", "healthy", "completed_successfully"]
Restart = Literal["no", "on-failure", "always"]


def _glob(pattern: str) -> str:
    problem = glob_problem(pattern)
    if problem:
        raise ValueError(problem)
    return pattern


def _env_name(name: str) -> str:
    if not name or "=" in name:
        raise ValueError("an environment variable name is not empty and has no '='")
    return name


Glob = Annotated[str, AfterValidator(_glob)]
"""A watch or ignore pattern (`neodev.config.globs`), refused when it can never match."""
EnvName = Annotated[str, AfterValidator(_env_name)]


class Section(BaseModel):
    """Base of the profile sections: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class ProjectSection(Section):
    name: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    """Compose project name (lowercase letters, digits, '-' and '_', as compose requires)."""
    compose: list[str] = Field(default_factory=list)
    """Compose files, relative to the profile file."""
    env_file: str | None = None
    """The `.env` file, relative to the profile file; missing is fine."""
    secrets: list[str] = Field(default_factory=list)
    """Variables generated into .neodev/secrets.env when not set anywhere."""
    log_lines: int = Field(default=5_000, ge=100, le=1_000_000)
    """Output lines kept in memory per unit (for `logs`, search and the dashboard)."""


class BackoffSection(Section):
    initial: float = Field(default=1.0, gt=0)
    """Seconds before the first restart."""
    factor: float = Field(default=2.0, ge=1)
    """Multiplier per further consecutive restart."""
    maximum: float = Field(default=30.0, gt=0)
    """Cap on the delay, in seconds."""
    reset_after: float = Field(default=30.0, ge=0)
    """Seconds up after which the backoff starts again from `initial`."""


class ProbeSection(Section):
    http: str | None = Field(default=None, pattern=r"^https?://")
    """URL that answers `expect_status` when ready."""
    tcp: int | str | None = None
    """Port (or host:port) that accepts connections when ready."""
    exec: str | list[str] | None = None
    """Command run on the host; exit 0 = ready."""
    log: str | None = None
    """Regular expression an output line matches when ready."""
    expect_status: int = Field(default=200, ge=100, le=599)
    """For http: the status that means ready."""
    interval: float = Field(default=1.0, gt=0)
    """Seconds between attempts."""
    timeout: float = Field(default=5.0, gt=0)
    """Seconds one attempt may take."""
    retries: int = Field(default=3, ge=1)
    """Consecutive failures (after start_period) that count as unhealthy."""
    start_period: float = Field(default=0.0, ge=0)
    """Seconds after start during which failures do not count (slow starters)."""

    @model_validator(mode="after")
    def _exactly_one(self) -> ProbeSection:
        chosen = [k for k in ("http", "tcp", "exec", "log") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError("a probe needs exactly one of http, tcp, exec, log (got "
                             f"{', '.join(chosen) or 'none'})")
        return self


_METRICS_FORMS = ('metrics = "/metrics" (path on the unit\'s port), '
                  'metrics = { path = "/metrics", port = 8080 }, or metrics = false')


def _metrics_path(value: object) -> object:
    # Prometheus takes query parameters separately (`params`), so a path is only a path.
    if isinstance(value, str) and not re.fullmatch(r"/[^\s?#]*", value):
        raise ValueError("a metrics path must start with '/' and contain no spaces, '?' or "
                         f"'#' (e.g. \"/metrics\"): write {_METRICS_FORMS}")
    return value


def _metrics_value(value: object) -> object:
    """Check the shape of a `metrics` value before pydantic picks a member of the union."""
    if value is True:
        raise ValueError(f"metrics = true is ambiguous: write {_METRICS_FORMS}")
    if not isinstance(value, str | dict | bool) and value is not None:
        raise ValueError(f"expected {_METRICS_FORMS}")
    return _metrics_path(value)


class MetricsSection(Section):
    """A metrics endpoint written as a table."""

    path: str = "/metrics"
    """HTTP path of the Prometheus text endpoint."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """Process: the host port; container: the container port. Default: the unit's own port."""

    _check_path = field_validator("path", mode="before")(_metrics_path)


class ServiceSection(Section):
    """Overrides for one compose service."""

    restart: Restart | None = None
    backoff: BackoffSection | None = None
    readiness: ProbeSection | None = None
    """Replaces the compose healthcheck as readiness: probed from the host (tcp/http on the
    published host port, exec on the host, log on the container's output)."""
    liveness: ProbeSection | None = None
    depends_on: dict[str, Condition] = Field(default_factory=dict)
    stop_grace: float | None = Field(default=None, ge=0)
    metrics: MetricsSection | str | bool | None = None
    """Prometheus endpoint of the container (see the module docstring); absent = not scraped."""
    optional: bool | None = None
    """Not needed for the environment to count as healthy (`start --wait` says it is not
    running, and still succeeds): e.g. Grafana when its image cannot be pulled."""

    _check_metrics = field_validator("metrics", mode="before")(_metrics_value)


class ProcessSection(Section):
    """One local process."""

    cwd: str
    """Working directory (relative to the profile file unless absolute)."""
    command: str | list[str]
    """argv, or a string split like a shell would (no shell features)."""
    port: int | None = Field(default=None, ge=1, le=65535)
    extra_ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field([], max_length=32)
    """Other ports it listens on (a health listener): moved and checked like `port`."""
    env: dict[EnvName, str | int | float | bool] = Field(default_factory=dict)
    readiness: ProbeSection | None = None
    liveness: ProbeSection | None = None
    watch: list[Glob] = Field(default_factory=list)
    ignore: list[Glob] = Field(default_factory=list)
    reload: Literal["restart", "none"] = "restart"
    build: str | list[str] | None = None
    restart: Restart = "on-failure"
    backoff: BackoffSection | None = None
    depends_on: dict[str, Condition] = Field(default_factory=dict)
    debounce_ms: int = Field(default=300, ge=0, le=60_000)
    """Longest a burst of changes (new files appearing) is grouped into one reload."""
    watch_step_ms: int = Field(default=10, ge=1, le=5_000)
    """Quiet time that ends a batch of changes: low enough to feel instant, enough to take an
    editor's save (write a temporary file, rename it) as one change."""
    watch_settle_ms: int = Field(default=2, ge=0, le=5_000)
    """The quiet time when the one changed file is complete (closed after writing, moved into
    place, deleted; inotify): the save is whole, so the reload need not wait the full step.
    A second file brings the full step back. At most watch_step_ms; set it as high to group
    files a tool writes a few milliseconds apart."""
    stop_grace: float = Field(default=10.0, ge=0)
    optional: bool = False
    """Not needed for the environment to count as healthy (see ServiceSection.optional)."""
    metrics: MetricsSection | str | bool | None = None
    """Prometheus endpoint of the process (see the module docstring); absent = not scraped."""

    _check_metrics = field_validator("metrics", mode="before")(_metrics_value)


class ClusterSection(Section):
    """Mirror of staging/prod on kind; fields as in model.ClusterSpec."""

    environment: Literal["staging", "prod"]
    overlay: str
    """Kustomize overlay directory, relative to the profile file."""
    cluster_name: str | None = None
    """Default: neodev-<profile>."""
    app_namespace: str | None = None
    """Default: neotool-<environment>."""
    workers: int = Field(default=1, ge=0, le=10)
    resource_scale: float = Field(default=0.25, gt=0, le=1)
    storage_class: str = "standard"
    pvc_size: str = Field(default="1Gi", pattern=r"^\d+(Ki|Mi|Gi|Ti)$")
    registry_port: int = Field(default=5001, ge=1, le=65535)
    ingress_http_port: int = Field(default=80, ge=1, le=65535)
    ingress_https_port: int = Field(default=443, ge=1, le=65535)
    rollout_timeout: float = Field(default=300.0, gt=0)
    images: dict[str, str] = Field(default_factory=dict)


class ProfileFile(Section):
    """The whole profile file."""

    project: ProjectSection = Field(default_factory=ProjectSection)
    services: dict[str, ServiceSection] = Field(default_factory=dict)
    processes: dict[str, ProcessSection] = Field(default_factory=dict)
    cluster: ClusterSection | None = None


# --- error translation -----------------------------------------------------------------------

_TYPE_TAGS = re.compile(r"^(str|int|float|bool|list\[.*\]|dict\[.*\]|literal\[.*\]|"
                        r"function-\w+\[.*\]|[A-Z]\w*Section|\[key\])$")


def validate_profile(data: Mapping[str, Any], file: str, lines: Mapping[str, int]
                     ) -> ProfileFile:
    """Validate parsed profile data; pydantic errors become one readable ConfigError.

    The message names the key path, the bad value and what is valid, with a did-you-mean for
    unknown keys and values.
    """
    try:
        return ProfileFile.model_validate(data)
    except ValidationError as exc:
        # Unknown keys first: a typo'd key also makes the real one look "missing".
        errors = sorted(exc.errors(include_url=False),
                        key=lambda e: e["type"] != "extra_forbidden")
        key, loc = _clean_loc(errors[0]["loc"])
        same = [e for e in errors if _clean_loc(e["loc"])[0] == key]
        raise ConfigError(_describe(same, loc), file=file, line=line_for(lines, key),
                          key=key) from exc


def _clean_loc(loc: tuple[str | int, ...]) -> tuple[str, list[str | int]]:
    parts: list[str | int] = [p for p in loc if isinstance(p, int) or not _TYPE_TAGS.match(p)]
    path = ""
    for part in parts:
        path = f"{path}[{part}]" if isinstance(part, int) else (f"{path}.{part}" if path
                                                                  else str(part))
    return path, parts


def _describe(errors: list[ErrorDetails], loc: list[str | int]) -> str:
    first = errors[0]
    kind = first["type"]
    if kind == "extra_forbidden":
        valid = _valid_keys(loc[:-1])
        hint = did_you_mean(str(loc[-1]), valid)
        return (f"unknown key {loc[-1]!r}{hint}; valid keys here: {', '.join(valid)}"
                if valid else f"unknown key {loc[-1]!r}")
    if kind == "missing":
        return f"required key {loc[-1]!r} is missing"
    value = first.get("input")
    shown = brief(value)
    messages = "; or ".join(dict.fromkeys(_message(e) for e in errors))
    hint = ""
    if kind == "literal_error" and isinstance(value, str):
        hint = did_you_mean(value, re.findall(r"'([^']*)'", first["ctx"]["expected"]))
    return f"invalid value {shown}{hint}: {messages}"


def _message(error: ErrorDetails) -> str:
    return re.sub(r"^Value error, ", "", error["msg"])


def _valid_keys(loc: list[str | int]) -> list[str]:
    model: object = ProfileFile
    for part in loc:
        model = _unwrap(model)
        if isinstance(model, type) and issubclass(model, BaseModel):
            field = model.model_fields.get(str(part))
            if field is None:
                return []
            model = field.annotation
        elif get_origin(model) in (dict, list):
            model = get_args(model)[-1]
        else:
            return []
    model = _unwrap(model)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _unwrap(tp: object) -> object:
    """From `X | None` (or a union), the model class or container type worth walking into."""
    if get_origin(tp) in (Union, types.UnionType):
        for arg in get_args(tp):
            if (isinstance(arg, type) and issubclass(arg, BaseModel)) or \
                    get_origin(arg) in (dict, list):
                return arg
    return tp

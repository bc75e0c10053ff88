"""Profile + compose files + `.env` + process environment -> one frozen, validated plan.

`load_plan` is pure: it reads files and never writes (generating missing secrets is
`neodev.configstate`, called by whoever starts things). Every problem is a ConfigError naming
the file, the line or key path, the bad value and what would be valid, raised before anything
starts.

Variable layers, lowest first: `.neodev/secrets.env` (generated secrets) < the profile's
`env_file` (`.env`) < the process environment.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neodev.config import inputs
from neodev.config.compose import build_containers, load_compose
from neodev.config.display import plan_for_display
from neodev.config.envfile import layered_environment, read_env_file
from neodev.config.hints import did_you_mean
from neodev.config.instance import InstanceNamer, ProjectNames, kind_name
from neodev.config.interpolate import Where, interpolate, interpolate_tree
from neodev.config.model import (
    Backoff,
    ClusterSpec,
    ContainerSpec,
    Dependency,
    DependencyCondition,
    EnvironmentPlan,
    MetricsEndpoint,
    Probe,
    ProcessSpec,
    RestartPolicy,
    cwd_problem,
    network_name,
)
from neodev.config.profile import (
    BackoffSection,
    MetricsSection,
    ProbeSection,
    ProcessSection,
    ServiceSection,
    read_profile_file,
    validate_profile,
)
from neodev.config.validate import Source, validate_plan
from neodev.errors import ConfigError
from neodev.paths import WorkspacePaths

__all__ = ["ProfileSource", "ProjectNames", "available_profiles", "load_plan",
           "plan_for_display", "read_profile", "resolve_profile"]

DEFAULT_PROJECT = "neotool"
ROOT_VARIABLE = "NEOTOOL_ROOT"
PROJECT_VARIABLE = "COMPOSE_PROJECT_NAME"
_PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_UNIT_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")


def available_profiles(workspace: Path) -> list[str]:
    """Names of the profiles in `<workspace>/profiles/` (file stems), sorted."""
    directory = workspace / "profiles"
    return sorted(p.stem for p in directory.glob("*.toml")) if directory.is_dir() else []


def resolve_profile(workspace: Path, profile: str) -> Path:
    """The profile file for a name (`profiles/<name>.toml`) or a path to a TOML file.

    Raises:
        ConfigError: no such profile (lists the available ones, with a did-you-mean).
    """
    candidate = Path(profile)
    if candidate.suffix == ".toml" or os.sep in profile:
        path = candidate if candidate.is_absolute() else (inputs.cwd() / candidate)
        if inputs.is_file(path):
            return inputs.resolve(path)
        raise ConfigError(f"profile file {profile!r} does not exist", file=str(path))
    path = workspace / "profiles" / f"{profile}.toml"
    if inputs.is_file(path):
        return inputs.resolve(path)
    names = available_profiles(workspace)
    raise ConfigError(f"unknown profile {profile!r}{did_you_mean(profile, names)}; available: "
                      f"{', '.join(names) or f'none (no profiles/*.toml under {workspace})'}")


def profile_variables(workspace: Path, profile_file: Path, raw: Mapping[str, Any],
                      environ: Mapping[str, str]) -> tuple[dict[str, str], set[str], Path | None]:
    """The layered variables for a profile: (variables, keys from files, env file path)."""
    env_file = None
    env_name = (raw.get("project") or {}).get("env_file")
    if isinstance(env_name, str):
        expanded = interpolate(env_name, environ, where=Where(str(profile_file),
                                                              "project.env_file"))
        env_file = inputs.resolve(profile_file.parent / expanded)
    variables, file_keys = layered_environment(environ, env_file,
                                               WorkspacePaths(workspace).secrets_file)
    root = variables.get(ROOT_VARIABLE)
    if root and not Path(root).is_absolute():
        # A relative NEOTOOL_ROOT (as in .env.example) means: relative to the workspace.
        variables[ROOT_VARIABLE] = str(inputs.resolve(workspace / root))
    return variables, file_keys, env_file


class _Recording(Mapping[str, str]):
    """A read-only view of the variables that remembers which names were looked up."""

    def __init__(self, data: dict[str, str]) -> None:
        self._data = data
        self.used: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.used.add(key)
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.used.add(key)
        return key in self._data

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.used.add(key)
        return self._data.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


@dataclass(frozen=True)
class ProfileSource:
    """A profile file read and parsed once, for everyone who needs it during one command."""

    path: Path
    raw: dict[str, Any]
    """The parsed TOML, before interpolation."""
    lines: dict[str, int]
    """Dotted key path -> line number."""


def read_profile(workspace: Path, profile: str) -> ProfileSource:
    """Find, read and parse a profile, checking its structure (before any variable is used).

    Raises:
        ConfigError: no such profile, unreadable, a TOML syntax error or an invalid structure.
    """
    profile_file = resolve_profile(inputs.resolve(workspace), profile)
    raw, lines = read_profile_file(profile_file)  # within the limits of config/limits.py
    validate_profile(raw, str(profile_file), lines)  # structure first: typos before variables
    return ProfileSource(profile_file, raw, lines)


def load_plan(workspace: Path, profile: str = "local",
              environ: Mapping[str, str] | None = None,
              source: ProfileSource | None = None,
              name_instance: InstanceNamer | None = None) -> EnvironmentPlan:
    """Load and validate one profile into an EnvironmentPlan.

    Args:
        workspace: The workspace root (holds `profiles/` and `.neodev/`).
        profile: A profile name (`profiles/<name>.toml`) or a path to a profile file.
        environ: The process environment (default: `os.environ`).
        source: The profile already read by `read_profile` (so a command reads it once).
        name_instance: Chooses the compose project (the instance's name) from the names the
            configuration gives; without it, COMPOSE_PROJECT_NAME, else the profile's name.

    Returns:
        The frozen plan.

    Raises:
        ConfigError: anything invalid, with file, line/key, bad value and what is valid.
    """
    workspace = inputs.resolve(workspace)
    environ = dict(os.environ if environ is None else environ)
    source = source or read_profile(workspace, profile)
    profile_file, raw, lines = source.path, source.raw, source.lines
    file = str(profile_file)
    variables, file_keys, env_file = profile_variables(workspace, profile_file, raw, environ)
    warnings: list[str] = []
    # Only the variables the configuration uses (or that come from files) go into the plan:
    # the whole process environment would be noise, and may hold unrelated credentials.
    recorded = _Recording(variables)
    data = interpolate_tree(raw, recorded, file=file, lines=lines, warnings=warnings)
    assert isinstance(data, dict)
    spec = validate_profile(data, file, lines)
    if not (spec.project.compose or spec.processes or spec.cluster):
        raise ConfigError("the profile defines nothing to run: name compose files under "
                          "[project] compose = [...], add [processes.<name>] tables, or a "
                          "[cluster] section", file=file)
    base = profile_file.parent

    composes = []
    for c in spec.project.compose:
        compose_path = inputs.resolve(base / c)
        if not inputs.is_file(compose_path):
            raise ConfigError(f"compose file {c!r} not found ({compose_path}); paths are "
                              "relative to the profile file", file=file,
                              line=lines.get("project.compose"), key="project.compose")
        composes.append(load_compose(compose_path, recorded, warnings))
    names = {cf.name for cf in composes if cf.name}
    profile_named = spec.project.name or (sorted(names)[0] if names else DEFAULT_PROJECT)
    chosen = recorded.get(PROJECT_VARIABLE)
    if isinstance(chosen, str) and chosen:
        # As with compose: COMPOSE_PROJECT_NAME (environment or .env) wins over the files.
        if not _PROJECT_NAME.fullmatch(chosen):
            raise ConfigError(f"{PROJECT_VARIABLE}={chosen!r} is not a compose project name "
                              "(lowercase letters, digits, '-' and '_', starting with a letter "
                              "or digit)", key=PROJECT_VARIABLE)
    else:
        chosen = None
    if name_instance is not None:
        project = name_instance(ProjectNames(chosen, profile_named))
        names = set() if chosen else names - {project} - {profile_named}
    elif chosen:
        project = chosen
        names = set()
    else:
        project = profile_named
    if names - {project}:
        shown = ", ".join(repr(n) for n in sorted(names - {project}))
        warnings.append(f"compose `name:` {shown} differs from the profile's project "
                        f"{project!r}: plain `docker compose` would use other container names")

    sources: dict[str, Source] = {}
    dep_sources: dict[tuple[str, str], Source] = {}
    containers: dict[str, ContainerSpec] = {}
    volumes: list[str] = []
    for cf in composes:
        built, used = build_containers(cf, project, recorded)
        for name, container in built.items():
            if name in containers:
                raise cf.error(f"services.{name}", f"service {name!r} is also defined in "
                               f"{sources[name].file}; neodev does not merge compose files")
            containers[name] = container
            sources[name] = Source(str(cf.path), f"services.{name}", cf.lines)
        volumes.extend(used)
    for name, override in spec.services.items():
        if name not in containers:
            raise ConfigError(f"[services.{name}] overrides unknown compose service {name!r}"
                              f"{did_you_mean(name, containers)} (services: "
                              f"{', '.join(containers) or 'none'})", file=file,
                              line=lines.get(f"services.{name}"), key=f"services.{name}")
        src = Source(key=f"services.{name}", file=file, lines=lines)
        containers[name] = _override(containers[name], override, src, dep_sources)

    processes: dict[str, ProcessSpec] = {}
    inherited = {k: variables[k] for k in sorted(file_keys)}
    for name, section in spec.processes.items():
        src = Source(key=f"processes.{name}", file=file, lines=lines)
        if not _UNIT_NAME.fullmatch(name):
            raise src.error("", f"process name {name!r} must start with a letter or digit and "
                            "use only letters, digits, '_', '.', '-'")
        if name in containers:
            raise src.error("", f"process {name!r} has the same name as a compose service; "
                            "unit names must be unique")
        processes[name] = _process(name, section, base, inherited, src, warnings)
        sources[name] = src

    cluster = None
    if spec.cluster is not None:
        cluster_section = spec.cluster
        cluster = ClusterSpec(
            environment=cluster_section.environment,
            cluster_name=kind_name(project, profile_named, profile_file.stem,
                                   cluster_section.cluster_name),
            overlay=inputs.resolve(base / cluster_section.overlay),
            app_namespace=cluster_section.app_namespace or f"neotool-{cluster_section.environment}",
            **cluster_section.model_dump(exclude={"environment", "cluster_name", "overlay",
                                          "app_namespace"}))

    # Secret sources, whatever the names: the profile's list and the generated secrets file.
    secret_names = {*spec.project.secrets,
                    *read_env_file(WorkspacePaths(workspace).secrets_file, environ)}
    plan = EnvironmentPlan(
        profile=profile_file.stem, project=project, workspace=workspace,
        profile_file=profile_file, compose_files=tuple(cf.path for cf in composes),
        env_file=env_file, network=network_name(project), containers=containers,
        processes=processes, volumes=tuple(dict.fromkeys(volumes)), cluster=cluster,
        log_lines=spec.project.log_lines, profile_project=profile_named,
        variables={k: variables[k] for k in sorted(file_keys | recorded.used | secret_names
                                                   | {ROOT_VARIABLE}) if k in variables},
        secret_names=tuple(sorted(secret_names)),
        warnings=tuple(dict.fromkeys(warnings)))
    validate_plan(plan, sources, dep_sources)
    return plan


def _backoff(section: BackoffSection | None) -> Backoff:
    return Backoff(**section.model_dump()) if section else Backoff()


def _dependencies(deps: Mapping[str, str]) -> tuple[Dependency, ...]:
    return tuple(Dependency(service=s, condition=DependencyCondition(c)) for s, c in deps.items())


def _override(container: ContainerSpec, override: ServiceSection, src: Source,
              dep_sources: dict[tuple[str, str], Source]) -> ContainerSpec:
    update: dict[str, object] = {}
    if override.restart is not None:
        update["restart"] = RestartPolicy(override.restart)
    if override.backoff is not None:
        update["backoff"] = _backoff(override.backoff)
    if override.readiness is not None:
        update["readiness"] = _probe(override.readiness, src, "readiness")
    if override.liveness is not None:
        update["liveness"] = _probe(override.liveness, src, "liveness")
    if override.stop_grace is not None:
        update["stop_grace"] = override.stop_grace
    if override.optional is not None:
        update["optional"] = override.optional
    if override.metrics is not None:
        own = sorted({p.container_port for p in container.ports})
        update["metrics"] = _metrics(override.metrics, own, src, "container")
    if override.depends_on:
        merged = {d.service: d for d in container.depends_on}
        for dep in _dependencies(override.depends_on):
            merged[dep.service] = dep
            dep_sources[(container.name, dep.service)] = src
        update["depends_on"] = tuple(merged.values())
    return container.model_copy(update=update)


def _argv(value: str | list[str], src: Source, key: str) -> tuple[str, ...]:
    if isinstance(value, list):
        argv = tuple(value)
    else:
        try:
            argv = tuple(shlex.split(value))
        except ValueError as exc:
            raise src.error(key, f"cannot split {value!r} into arguments: {exc}") from exc
    if not argv:
        raise src.error(key, "the command is empty")
    return argv


def _probe(section: ProbeSection, src: Source, key: str) -> Probe:
    common = section.model_dump(include={"interval", "timeout", "retries", "start_period"})
    if section.http is not None:
        return Probe(kind="http", url=section.http, expect_status=section.expect_status,
                     **common)
    if section.tcp is not None:
        host, port = "127.0.0.1", section.tcp
        if isinstance(port, str):
            host, _, port = port.rpartition(":")
            if not port.isdigit():
                raise src.error(f"{key}.tcp", f"invalid tcp target {section.tcp!r}: use a port "
                                "number or 'host:port'")
            host = host or "127.0.0.1"
        if not 0 < int(port) < 65536:
            raise src.error(f"{key}.tcp", f"port {port} is out of range (1-65535)")
        return Probe(kind="tcp", host=host, port=int(port), **common)
    if section.exec is not None:
        return Probe(kind="exec", command=_argv(section.exec, src, f"{key}.exec"), **common)
    try:
        re.compile(section.log or "")
    except re.error as exc:
        raise src.error(f"{key}.log", f"invalid regular expression {section.log!r}: {exc}"
                        ) from exc
    return Probe(kind="log", pattern=section.log, **common)


def _metrics(value: MetricsSection | str | bool, own_ports: list[int], src: Source,
             kind: str) -> MetricsEndpoint | None:
    """A profile `metrics` value -> the endpoint Prometheus scrapes (None when disabled).

    Args:
        value: The validated profile value (a path, a table or false).
        own_ports: The unit's own ports: a process's `port`, a container's container ports.
        src: Where the unit is defined, for errors.
        kind: "process" or "container", for the wording of errors.
    """
    if value is False:
        return None
    section = MetricsSection(path=value) if isinstance(value, str) else value
    assert isinstance(section, MetricsSection)  # True was refused by the profile schema
    if section.port is not None:
        return MetricsEndpoint(path=section.path, port=section.port)
    if len(own_ports) == 1:
        return MetricsEndpoint(path=section.path, port=own_ports[0])
    example = f'metrics = {{ path = "{section.path}", port = 8080 }}'
    if kind == "process":
        raise src.error("metrics", f"metrics without a port needs the process's `port`: set "
                        f"`port`, or name the metrics port ({example})")
    shown = ", ".join(str(p) for p in own_ports) or "none"
    raise src.error("metrics", f"metrics without a port needs exactly one container port in "
                    f"the compose `ports:` (this service has: {shown}); name the container "
                    f"port Prometheus scrapes on the project network ({example})")


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _process(name: str, section: ProcessSection, base: Path, inherited: dict[str, str], src: Source,
             warnings: list[str]) -> ProcessSpec:
    cwd = Path(inputs.expanduser(section.cwd))
    cwd = inputs.resolve(cwd if cwd.is_absolute() else base / cwd)
    problem = cwd_problem(cwd, is_dir=inputs.is_dir, is_file=inputs.is_file)
    if problem is not None:
        warnings.append(f"process {name!r}: {problem}")
    return ProcessSpec(
        name=name, cwd=cwd, command=_argv(section.command, src, "command"),
        env={**inherited, **{k: _scalar(v) for k, v in section.env.items()}},
        port=section.port, extra_ports=tuple(dict.fromkeys(section.extra_ports)),
        readiness=_probe(section.readiness, src, "readiness") if section.readiness else None,
        liveness=_probe(section.liveness, src, "liveness") if section.liveness else None,
        watch=tuple(section.watch), ignore=tuple(section.ignore), reload=section.reload,
        build=_argv(section.build, src, "build") if section.build is not None else None,
        restart=RestartPolicy(section.restart), backoff=_backoff(section.backoff),
        optional=section.optional,
        depends_on=_dependencies(section.depends_on), debounce_ms=section.debounce_ms,
        watch_step_ms=section.watch_step_ms, watch_settle_ms=section.watch_settle_ms,
        stop_grace=section.stop_grace,
        metrics=(_metrics(section.metrics, [section.port] if section.port else [], src,
                          "process") if section.metrics is not None else None))

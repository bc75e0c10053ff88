"""Compose files -> ContainerSpec, for the subset of the Compose Specification neodev runs.

The same file must keep working with plain `docker compose`, so we read it as compose does
(interpolation first, per file, then the model) and refuse — rather than silently ignore — any
key we would not honour. Two deliberate restrictions protect a laptop: every published port must
name its host IP (`127.0.0.1:5432:5432`; `0.0.0.0:...` only when written out), and only the
`default` network exists.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from neodev.config.compose_mounts import parse_port, parse_volume
from neodev.config.hints import brief, did_you_mean, unsupported
from neodev.config.interpolate import Where, check_syntax, interpolate_tree, top_level_variables
from neodev.config.model import (
    ContainerSpec,
    Dependency,
    DependencyCondition,
    HealthcheckSpec,
    Probe,
    RestartPolicy,
)
from neodev.config.yamlsrc import load_yaml
from neodev.errors import ConfigError
from neodev.jsontypes import JsonObject

TOP_LEVEL_KEYS = ("services", "volumes", "networks", "name", "version")
SERVICE_KEYS = ("image", "environment", "ports", "volumes", "healthcheck", "depends_on",
                "restart", "command", "entrypoint", "extra_hosts", "labels", "user",
                "working_dir", "stop_signal", "stop_grace_period", "networks")
HEALTHCHECK_KEYS = ("test", "interval", "timeout", "retries", "start_period", "start_interval",
                    "disable")
VOLUME_KEYS = ("name", "external")
CONDITIONS = {"service_started": DependencyCondition.STARTED,
              "service_healthy": DependencyCondition.HEALTHY,
              "service_completed_successfully": DependencyCondition.COMPLETED_SUCCESSFULLY}
RESTARTS = {"no": RestartPolicy.NO, "always": RestartPolicy.ALWAYS,
            "unless-stopped": RestartPolicy.ALWAYS, "on-failure": RestartPolicy.ON_FAILURE}
_DURATION = re.compile(r"(\d++(?:\.\d++)?+)(ns|us|µs|ms|s|m|h)")
# Possessive runs, anchored by fullmatch: a long run of digits is read once, not once per digit.
_DURATIONS = re.compile(r"(?:\d++(?:\.\d++)?+(?:ns|us|µs|ms|s|m|h))++")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_IMAGE_VARIABLE = re.compile(r"NEODEV_\w+_IMAGE")
# As compose requires them: https://docs.docker.com/reference/compose-file/services/
_SERVICE_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_SCALARS = (str, int, float)
"""What compose accepts where it wants a string (`user: 1000`, `FLAG: 5`)."""


@dataclass(frozen=True)
class ComposeFile:
    """One compose file after interpolation, with line numbers for messages."""

    path: Path
    name: str | None
    services: JsonObject
    volumes: dict[str, JsonObject]
    image_variables: dict[str, str | None]
    lines: dict[str, int]

    def error(self, key: str, message: str) -> ConfigError:
        """A ConfigError pointing at `key` (dotted path) in this file."""
        return ConfigError(message, file=str(self.path), line=self.lines.get(key), key=key)


def load_compose(path: Path, env: Mapping[str, str], warnings: list[str]) -> ComposeFile:
    """Read and interpolate one compose file, checking its top-level structure.

    Raises:
        ConfigError: syntax, interpolation, or an unsupported top-level key.
    """
    raw, lines = load_yaml(path, "compose file")
    file = str(path)
    if not isinstance(raw, dict):
        raise ConfigError("a compose file must be a mapping with a `services:` key", file=file)
    shell = ComposeFile(path, None, {}, {}, {}, lines)
    for key in raw:
        if key not in TOP_LEVEL_KEYS and not str(key).startswith("x-"):
            raise shell.error(str(key), unsupported(key, TOP_LEVEL_KEYS, "top-level key"))
    image_variables: dict[str, str | None] = {}
    services_raw = raw.get("services") or {}
    if not isinstance(services_raw, dict):
        raise shell.error("services", "`services` must be a mapping of service name -> service")
    for name, service in services_raw.items():
        if not isinstance(name, str) or not _SERVICE_NAME.fullmatch(name):
            raise shell.error(f"services.{name}", f"service name {brief(name)} must start "
                              "with a letter or digit and use only letters, digits, '_', '.', '-'")
        image = service.get("image") if isinstance(service, dict) else None
        image_variables[name] = _image_variable(image, file, f"services.{name}.image", lines)
    data = interpolate_tree(raw, env, file=file, lines=lines, warnings=warnings)
    assert isinstance(data, dict)
    volumes = data.get("volumes") or {}
    if not isinstance(volumes, dict):
        raise shell.error("volumes", "top-level `volumes` must be a mapping")
    for vname, vdef in volumes.items():
        if vdef is not None and not isinstance(vdef, dict):
            raise shell.error(f"volumes.{vname}", f"a volume definition must be a mapping (or "
                              f"empty), got {brief(vdef)}")
        for key in vdef or {}:
            if key not in VOLUME_KEYS and not str(key).startswith("x-"):
                raise shell.error(f"volumes.{vname}.{key}",
                                  unsupported(key, VOLUME_KEYS, "volume key"))
    for net in data.get("networks") or {}:
        if net != "default":
            raise shell.error(f"networks.{net}", f"neodev supports only the `default` network, "
                              f"not {net!r}: every service joins <project>_default")
    name = data.get("name")
    if name is not None and not (isinstance(name, str) and _PROJECT_NAME.fullmatch(name)):
        raise shell.error("name", f"invalid project name {brief(name)}: lowercase letters, "
                          "digits, '-' and '_', starting with a letter or digit")
    return ComposeFile(path, name or None, data.get("services") or {},
                       {str(k): dict(v or {}) for k, v in volumes.items()}, image_variables,
                       lines)


def _image_variable(image: object, file: str, key: str, lines: dict[str, int]) -> str | None:
    """The variable that overrides an image, read from the raw (uninterpolated) template."""
    if not isinstance(image, str):
        return None
    check_syntax(image, Where(file, key, lines.get(key)))
    names = top_level_variables(image)
    preferred = [n for n in names if _IMAGE_VARIABLE.fullmatch(n)]
    if preferred:
        return preferred[0]
    if image.startswith("${") and len(names) == 1 and image.endswith("}"):
        return names[0]
    return None


def build_containers(cf: ComposeFile, project: str, env: Mapping[str, str]
                     ) -> tuple[dict[str, ContainerSpec], list[str]]:
    """Turn every service of a compose file into a ContainerSpec.

    Args:
        cf: The loaded compose file.
        project: Compose project name (volume prefix).
        env: Variables, for `environment` entries without a value (taken from the environment).

    Returns:
        (service name -> spec, project-prefixed names of the named volumes used).
    """
    containers: dict[str, ContainerSpec] = {}
    used_volumes: list[str] = []
    for name, service in cf.services.items():
        if not isinstance(service, dict):
            raise cf.error(f"services.{name}", "a service must be a mapping")
        spec, volumes = _service(cf, str(name), service, project, env)
        containers[str(name)] = spec
        used_volumes.extend(volumes)
    return containers, list(dict.fromkeys(used_volumes))


def _service(cf: ComposeFile, name: str, svc: JsonObject, project: str, env: Mapping[str, str]
             ) -> tuple[ContainerSpec, list[str]]:
    base = f"services.{name}"
    for key in svc:
        if key not in SERVICE_KEYS and not str(key).startswith("x-"):
            raise cf.error(f"{base}.{key}", unsupported(key, SERVICE_KEYS, "compose key"))
    if not svc.get("image"):
        raise cf.error(base, f"service {name!r} needs an `image:` (neodev does not build "
                       "compose services)")
    if not isinstance(svc["image"], str):
        raise cf.error(f"{base}.image", f"`image` must be a string, got {brief(svc['image'])}")
    for net in _names(svc.get("networks")):
        if net != "default":
            raise cf.error(f"{base}.networks", f"only the `default` network is supported, "
                           f"not {net!r}")
    healthcheck = _healthcheck(cf, f"{base}.healthcheck", svc.get("healthcheck"))
    volumes = [parse_volume(cf.error, f"{base}.volumes[{i}]", v, project, cf.path.parent,
                            cf.volumes)
               for i, v in enumerate(_list(cf, f"{base}.volumes", svc.get("volumes")))]
    spec = ContainerSpec(
        name=name, service=name, image=svc["image"],
        image_variable=cf.image_variables.get(name), compose_file=cf.path,
        command=_argv(cf, f"{base}.command", svc.get("command")),
        entrypoint=_argv(cf, f"{base}.entrypoint", svc.get("entrypoint")),
        environment=_environment(cf, f"{base}.environment", svc.get("environment"), env),
        ports=tuple(parse_port(cf.error, f"{base}.ports[{i}]", p)
                    for i, p in enumerate(_list(cf, f"{base}.ports", svc.get("ports")))),
        volumes=tuple(volumes),
        healthcheck=healthcheck,
        readiness=Probe(kind="docker") if healthcheck and healthcheck.test[0] != "NONE" else None,
        depends_on=_depends_on(cf, f"{base}.depends_on", svc.get("depends_on")),
        restart=_restart(cf, f"{base}.restart", svc.get("restart")),
        extra_hosts=_pairs(cf, f"{base}.extra_hosts", svc.get("extra_hosts"), ":"),
        labels=_pairs(cf, f"{base}.labels", svc.get("labels"), "="),
        user=_text(cf, f"{base}.user", svc.get("user")),
        working_dir=_text(cf, f"{base}.working_dir", svc.get("working_dir")),
        stop_signal=_text(cf, f"{base}.stop_signal", svc.get("stop_signal")),
        stop_grace=(duration(cf, f"{base}.stop_grace_period", svc["stop_grace_period"])
                    if svc.get("stop_grace_period") is not None else 10.0),
    )
    return spec, [v.source for v in volumes if v.type == "volume"]


def _names(value: object) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | dict) else [str(value)]


def _text(cf: ComposeFile, key: str, value: object) -> str | None:
    """A setting compose reads as a string: a string or a number, or absent."""
    if value is None:
        return None
    if not isinstance(value, _SCALARS) or isinstance(value, bool):
        raise cf.error(key, f"expected a string, got {brief(value)}")
    return str(value)


def _list(cf: ComposeFile, key: str, value: object) -> list[object]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise cf.error(key, f"expected a list, got {brief(value)}")
    return value


def duration(cf: ComposeFile | None, key: str, value: object) -> float:
    """A compose duration (`5s`, `1m30s`, `500ms`, or a number of seconds) in seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    if _DURATIONS.fullmatch(text):
        return sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))
    message = (f"invalid duration {brief(value)}: use a number with a unit, e.g. 5s, 500ms, 1m30s "
               "(units: ns us ms s m h)")
    raise cf.error(key, message) if cf else ConfigError(message, key=key)


def _argv(cf: ComposeFile, key: str, value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return tuple(shlex.split(value))
        except ValueError as exc:
            raise cf.error(key, f"cannot split {value!r} into arguments: {exc}") from exc
    if isinstance(value, list):
        return tuple(_words(cf, key, value))
    raise cf.error(key, f"expected a string or a list of strings, got {brief(value)}")


def _words(cf: ComposeFile, key: str, items: list[object]) -> list[str]:
    """The items of an argv-like list, each a string (or a number)."""
    return [str(_text(cf, f"{key}[{i}]", item)) for i, item in enumerate(items)]


def _scalar(cf: ComposeFile, key: str, value: object) -> str:
    """An environment or label value: a string, number, boolean or null."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if not isinstance(value, _SCALARS):
        raise cf.error(key, f"expected a string, number or boolean, got {brief(value)}")
    return str(value)


def _environment(cf: ComposeFile, key: str, value: object, env: Mapping[str, str]
                 ) -> dict[str, str]:
    items: list[tuple[str, object]]
    if value is None:
        return {}
    if isinstance(value, dict):
        items = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list):
        items = []
        for i, entry in enumerate(_words(cf, key, value)):
            name, sep, text = entry.partition("=")
            if not name:
                raise cf.error(f"{key}[{i}]", f"expected NAME=VALUE, got {brief(entry)}")
            items.append((name, text if sep else None))
    else:
        raise cf.error(key, f"`environment` must be a mapping or a list of KEY=VALUE, "
                       f"got {value!r}")
    result: dict[str, str] = {}
    for k, v in items:
        if v is None:
            # `KEY` without a value: passed through from the environment, absent if unset.
            if k in env:
                result[k] = env[k]
        else:
            result[k] = _scalar(cf, f"{key}.{k}", v)
    return result


def _pairs(cf: ComposeFile, key: str, value: object, sep: str) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): _scalar(cf, f"{key}.{k}", v) for k, v in value.items()}
    if not isinstance(value, list):
        raise cf.error(key, f"expected a mapping or a list, got {brief(value)}")
    result: dict[str, str] = {}
    for i, text in enumerate(_words(cf, key, value)):
        # extra_hosts accepts both "host:ip" and "host=ip" (compose >= 2.24).
        separator = "=" if "=" in text else sep
        k, found, v = text.partition(separator)
        if not found or not k:
            raise cf.error(f"{key}[{i}]", f"expected 'name{sep}value', got {text!r}")
        result[k] = v
    return result


def _healthcheck(cf: ComposeFile, key: str, value: object) -> HealthcheckSpec | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise cf.error(key, "`healthcheck` must be a mapping")
    for k in value:
        if k not in HEALTHCHECK_KEYS:
            raise cf.error(f"{key}.{k}", unsupported(k, HEALTHCHECK_KEYS, "healthcheck key"))
    if value.get("disable"):
        return HealthcheckSpec(test=("NONE",))
    test = value.get("test")
    if isinstance(test, str):
        argv: tuple[str, ...] = ("CMD-SHELL", test)
    elif isinstance(test, list) and test:
        argv = tuple(_words(cf, f"{key}.test", test))
        if argv[0] not in ("CMD", "CMD-SHELL", "NONE"):
            raise cf.error(f"{key}.test[0]", f"a healthcheck test list starts with CMD, "
                           f"CMD-SHELL or NONE, not {brief(argv[0])}")
    else:
        raise cf.error(f"{key}.test", f"healthcheck test must be a string or a list starting "
                       f"with CMD, CMD-SHELL or NONE, got {brief(test)}")
    retries = value.get("retries", 3)
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise cf.error(f"{key}.retries", f"retries must be a non-negative integer, got "
                       f"{retries!r}")
    times = {k: duration(cf, f"{key}.{k}", value[k])
             for k in ("interval", "timeout", "start_period") if value.get(k) is not None}
    return HealthcheckSpec(test=argv, retries=retries, **times)


def _depends_on(cf: ComposeFile, key: str, value: object) -> tuple[Dependency, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(Dependency(service=v) for v in _words(cf, key, value))
    if not isinstance(value, dict):
        raise cf.error(key, f"`depends_on` must be a list or a mapping, got {brief(value)}")
    deps = []
    for name, opts in value.items():
        if opts is not None and not isinstance(opts, dict):
            raise cf.error(f"{key}.{name}", f"expected a mapping such as `condition: "
                           f"service_healthy`, got {brief(opts)}")
        condition = (opts or {}).get("condition", "service_started")
        if not isinstance(condition, str) or condition not in CONDITIONS:
            hint = did_you_mean(condition, CONDITIONS) if isinstance(condition, str) else ""
            raise cf.error(f"{key}.{name}.condition",
                           f"unknown condition {brief(condition)}{hint}"
                           f" (valid: {', '.join(CONDITIONS)})")
        deps.append(Dependency(service=str(name), condition=CONDITIONS[condition]))
    return tuple(deps)


def _restart(cf: ComposeFile, key: str, value: object) -> RestartPolicy:
    if value is None or value is False:
        return RestartPolicy.NO
    text = str(value)
    policy = RESTARTS.get(text.split(":", 1)[0] if text.startswith("on-failure") else text)
    if policy is None:
        raise cf.error(key, f"unknown restart policy {text!r}{did_you_mean(text, RESTARTS)} "
                       f"(valid: {', '.join(RESTARTS)})")
    return policy

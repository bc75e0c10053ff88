"""Compose `ports:` and `volumes:` entries -> PortMapping / VolumeMount.

Split from `compose.py` to keep each module small. Errors are raised through the caller's `fail`
callback so they point at the compose file, line and key.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path

from neodev.config import inputs
from neodev.config.hints import brief, did_you_mean, unsupported
from neodev.config.model import PortMapping, VolumeMount
from neodev.errors import ConfigError
from neodev.jsontypes import JsonObject

Fail = Callable[[str, str], ConfigError]
"""fail(key, message) -> the ConfigError to raise."""


def parse_port(fail: Fail, key: str, value: object) -> PortMapping:
    """One `ports:` entry (short or long syntax); the host IP must be written out."""
    hint = "write it as 'HOST_IP:HOST_PORT:CONTAINER_PORT', e.g. '127.0.0.1:5432:5432'"
    if isinstance(value, dict):
        allowed = ("target", "published", "host_ip", "protocol", "mode", "name")
        for k in value:
            if k not in allowed:
                raise fail(f"{key}.{k}", unsupported(k, allowed, "port key"))
        if not value.get("host_ip"):
            raise fail(key, "a published port must name host_ip explicitly (127.0.0.1 "
                       "keeps it on this machine; 0.0.0.0 exposes it to the network)")
        published = value.get("published")
        return _mapping(fail, key, str(value["host_ip"]), "" if published is None else
                        str(published), str(value.get("target", "")),
                        str(value.get("protocol", "tcp")))
    text = str(value)
    proto = "tcp"
    if "/" in text:
        text, proto = text.rsplit("/", 1)
    if text.startswith("["):  # [::1]:5432:5432
        ip, _, rest = text[1:].partition("]")
        parts = [ip, *rest.lstrip(":").split(":", 1)]
        if len(parts) == 2:
            parts.insert(1, "")
    else:
        parts = text.split(":")
    if len(parts) != 3:
        raise fail(key, f"port {brief(value)} does not name its host IP: {hint} (a port "
                   "without an IP would listen on every interface)")
    return _mapping(fail, key, parts[0], parts[1], parts[2], proto)


def _mapping(fail: Fail, key: str, ip: str, host: str, target: str, proto: str
             ) -> PortMapping:
    if proto not in ("tcp", "udp"):
        raise fail(key, f"protocol {proto!r} is not supported (tcp or udp)")
    if "-" in host or "-" in target:
        raise fail(key, "port ranges are not supported; list each port")
    try:
        host_port = int(host) if host else None
        container_port = int(target)
    except ValueError as exc:
        raise fail(key, f"ports must be numbers, got host {host!r}, container "
                   f"{target!r}") from exc
    for port in (host_port, container_port):
        if port is not None and not 0 < port < 65536:
            raise fail(key, f"port {port} is out of range (1-65535)")
    if not ip:
        raise fail(key, "the host IP is empty: use 127.0.0.1 (or 0.0.0.0 deliberately)")
    try:
        ipaddress.ip_address(ip)
    except ValueError as exc:
        raise fail(key, f"host IP {brief(ip)} is not an IP address: use 127.0.0.1 (or 0.0.0.0 "
                   "deliberately)") from exc
    return PortMapping(container_port=container_port, host_port=host_port, host_ip=ip,
                       protocol=proto)  # type: ignore[arg-type]


def parse_volume(fail: Fail, key: str, value: object, project: str, base_dir: Path,
                 declared: dict[str, JsonObject]) -> VolumeMount:
    """One `volumes:` entry of a service: a declared named volume or a bind mount.

    Named volumes become `<project>_<name>` (or the declared `name:`); bind sources become
    absolute paths relative to the compose file's directory.
    """
    if isinstance(value, dict):
        allowed = ("type", "source", "target", "read_only")
        for k in value:
            if k not in allowed:
                raise fail(f"{key}.{k}", unsupported(k, allowed, "volume mount key"))
        vtype = value.get("type", "volume")
        if vtype not in ("volume", "bind"):
            raise fail(f"{key}.type", f"mount type {vtype!r} is not supported "
                       "(volume or bind)")
        source, target = str(value.get("source") or ""), str(value.get("target") or "")
        read_only = bool(value.get("read_only", False))
    else:
        parts = str(value).split(":")
        if len(parts) == 1:
            raise fail(key, f"anonymous volume {brief(value)} is not supported: name it "
                       "(NAME:/path) so its data survives restarts")
        if len(parts) > 3:
            raise fail(key, f"cannot read volume {brief(value)}: expected SOURCE:TARGET[:MODE]")
        source, target = parts[0], parts[1]
        mode = parts[2] if len(parts) == 3 else "rw"
        flags = set(mode.split(","))
        if not flags <= {"ro", "rw", "z", "Z"}:
            raise fail(key, f"volume mode {brief(mode)} is not supported (ro, rw)")
        read_only = "ro" in flags
        vtype = "bind" if source.startswith((".", "/", "~")) else "volume"
    if not source or not target.startswith("/"):
        raise fail(key, f"a mount needs a source and an absolute target, got {brief(value)}")
    if vtype == "bind":
        # `~unknown-user` stays as it is (inputs.expanduser), and compose reads it as a
        # relative path too.
        host = Path(inputs.expanduser(source))
        source = str(inputs.resolve(base_dir / host) if not host.is_absolute() else host)
    else:
        if source not in declared:
            raise fail(key, f"volume {brief(source)} is not declared under top-level "
                       f"`volumes:`{did_you_mean(source, declared)} "
                       f"(declared: {', '.join(declared) or 'none'})")
        decl = declared[source]
        source = str(decl["name"]) if decl.get("name") else (
            source if decl.get("external") else f"{project}_{source}")
    return VolumeMount(type=vtype, source=source, target=target, read_only=read_only)

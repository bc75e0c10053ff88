"""`@{unit:port}`: the host port behind a unit's port, in a process setting.

One grammar, read by the loader (to validate every reference before anything starts) and by
the daemon (to substitute the port when the process starts):

    @{<service>:<container port>}     the host port Docker actually published it on
    @{<process>:<declared port>}      the host port this instance gives the process's `port`
                                      (or one of its `extra_ports`): the profile's own for the
                                      first instance, else the port of the instance's block

Anything else between `@{` and `}` is malformed and refused at load time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

_REFERENCE = re.compile(r"@\{([^}]*)\}")
_BODY = re.compile(r"([A-Za-z0-9][A-Za-z0-9_.-]*):(\d{1,5})")
EXAMPLE = "@{postgres:5432}"


@dataclass(frozen=True)
class PortReference:
    """One `@{service:port}` found in a string."""

    text: str
    """The reference as written, e.g. `@{postgres:5432}`."""
    service: str | None
    """The service name; None when the reference is malformed."""
    port: int | None
    """The container port; None when the reference is malformed."""


def _parse(match: re.Match[str]) -> PortReference:
    body = _BODY.fullmatch(match.group(1))
    if body is None:
        return PortReference(match.group(0), None, None)
    return PortReference(match.group(0), body.group(1), int(body.group(2)))


def _searchable(text: str) -> str:
    """`text` up to its last `}`: no reference can start after it.

    Searching only there keeps the search linear: each `@{` after the last `}` would otherwise
    scan to the end of the text and fail, which is quadratic in a line of `@{@{@{...`.
    """
    return text[:text.rfind("}") + 1]


def find_references(text: str) -> Iterator[PortReference]:
    """Every `@{...}` in `text`, in order, malformed ones included."""
    return (_parse(m) for m in _REFERENCE.finditer(_searchable(text)))


def substitute(text: str, host_port: Callable[[str, int], str]) -> str:
    """`text` with every well-formed reference replaced by `host_port(service, port)`.

    Malformed references (which the loader refuses) are left as written.
    """
    def replace(match: re.Match[str]) -> str:
        ref = _parse(match)
        if ref.service is None or ref.port is None:
            return ref.text
        return host_port(ref.service, ref.port)

    head = _searchable(text)
    return _REFERENCE.sub(replace, head) + text[len(head):]

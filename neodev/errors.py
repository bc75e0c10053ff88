"""One error hierarchy for everything neodev reports to a person.

Each error has a short title (what went wrong, in a few words), a message (the detail: which file,
key or value, and what would be valid) and the process exit code the CLI uses for it. Lower layers
raise these; the CLI and the daemon print or serialise them, never a traceback.

Errors cross the daemon's socket as data (`to_dict`) and come back as the same class with the
same fields (`error_from_dict`): a ConfigError raised in the daemon reaches the CLI with its file,
line and key. Every error class lives in this module, so the client can always rebuild it.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar


class NeodevError(Exception):
    """Base of every error neodev reports to a person."""

    title = "neodev error"
    exit_code = 1
    http_status = 500
    """The daemon API's status code for this error."""
    FIELDS: ClassVar[tuple[str, ...]] = ()
    """Attributes that travel with the error across the socket."""
    start_failure: ClassVar[str] = "start_failed"
    """What a unit's start failed on, when a runner raises this from `start`: the engine
    records it (`UnitRecord.start_failure`) and the wait's verdict carries it (`Verdict.kind`),
    without knowing which driver raised it."""
    unavailable: ClassVar[bool] = False
    """A start that failed with this error fails the same way until something outside neodev
    changes (an image appears): the engine shows the unit `unavailable`, says so once, and
    tries again only when asked or when the runner says it can start (`Runner.can_start`),
    never on its restart backoff."""

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    @property
    def missing(self) -> str:
        """For an `unavailable` error: what cannot be had, in a few words (`image x:1`)."""
        return self.message

    def to_dict(self) -> dict[str, object]:
        """The error as data, for the daemon API and `--json` output."""
        data: dict[str, object] = {"type": type(self).__name__, "title": self.title,
                                   "message": self.message, "exit_code": self.exit_code}
        data.update({name: getattr(self, name, None) for name in self.FIELDS})
        return data


def error_from_dict(data: dict[str, Any]) -> NeodevError:
    """Rebuild a NeodevError (the same subclass, with its fields) from its `to_dict()` form."""
    cls = getattr(sys.modules[__name__], str(data.get("type", "")), None)
    if not (isinstance(cls, type) and issubclass(cls, NeodevError)):
        cls = NeodevError
    error = cls.__new__(cls)
    NeodevError.__init__(error, str(data.get("message", "")), title=str(data.get("title", "")))
    for name in cls.FIELDS:
        setattr(error, name, data.get(name))
    error.exit_code = int(data.get("exit_code", cls.exit_code))
    return error


class ConfigError(NeodevError):
    """A profile, compose file or .env is invalid. Nothing has been started."""

    title = "Configuration error"
    exit_code = 2
    http_status = 400
    FIELDS = ("file", "line", "key")

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 key: str | None = None, title: str | None = None) -> None:
        self.file = file
        self.line = line
        self.key = key
        where = _location(file, line, key)
        super().__init__(f"{where}: {message}" if where else message, title=title)


def _location(file: str | None, line: int | None, key: str | None) -> str:
    parts: list[str] = []
    if file:
        parts.append(f"{file}:{line}" if line else file)
    if key:
        parts.append(key)
    return ", ".join(parts)


class RequestError(NeodevError):
    """A request to the daemon API is malformed (a parameter out of range, of the wrong type)."""

    title = "Invalid request"
    exit_code = 2
    http_status = 422
    FIELDS = ("param",)

    def __init__(self, message: str, *, param: str | None = None) -> None:
        self.param = param
        super().__init__(message)


class UnknownUnitError(NeodevError):
    """A unit name that is not in the plan."""

    title = "Unknown service"
    exit_code = 2
    http_status = 404
    FIELDS = ("unit", "valid")

    def __init__(self, unit: str, valid: list[str]) -> None:
        self.unit = unit
        self.valid = sorted(valid)
        super().__init__(f"unknown service {unit!r}; valid services: {', '.join(self.valid)}")


class UnitStateError(NeodevError):
    """An action that the unit's current state does not allow (stop a stopped unit...)."""

    title = "Not possible now"
    exit_code = 4
    http_status = 409
    FIELDS = ("unit", "state", "action")

    def __init__(self, unit: str, state: str, action: str, message: str) -> None:
        self.unit = unit
        self.state = state
        self.action = action
        super().__init__(message)


class DockerError(NeodevError):
    """The Docker engine is unreachable, or refused an operation."""

    title = "Docker error"
    exit_code = 3
    http_status = 502


class EngineUnreachable(DockerError):
    """No Docker engine answers: nothing is wrong with the units, the engine is gone."""

    title = "Docker engine unreachable"


class ImageUnavailableError(DockerError):
    """A container's image is not on the engine and cannot be pulled."""

    title = "Image not available"
    start_failure = "image_missing"
    unavailable = True
    FIELDS = ("image",)

    def __init__(self, message: str, *, image: str = "") -> None:
        self.image = image
        """The image reference (`grafana/loki:3.7.2`), when known."""
        super().__init__(message)

    @property
    def missing(self) -> str:
        return f"image {self.image}" if self.image else self.message


class PortConflictError(DockerError):
    """A host port the environment needs is taken; nothing was started."""

    title = "Host port already in use"
    http_status = 409
    start_failure = "port_taken"
    FIELDS = ("units",)

    def __init__(self, message: str, *, units: tuple[str, ...] | list[str] = ()) -> None:
        self.units = list(units)
        """The units whose ports are taken (when known)."""
        super().__init__(message)


class ProcessError(NeodevError):
    """A local process could not be started, stopped or probed."""

    title = "Process error"
    exit_code = 4
    http_status = 409


class ClusterError(NeodevError):
    """kind, kubectl or the cluster refused an operation."""

    title = "Cluster error"
    exit_code = 5
    http_status = 502


class ClusterStepFailed(ClusterError):
    """A cluster plan step's command failed; carries the step, the command and its output tail."""

    FIELDS = ("step", "argv", "returncode")

    def __init__(self, step: str, command: str, argv: tuple[str, ...], returncode: int,
                 output: str) -> None:
        self.step = step
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output
        super().__init__(
            f"step {step!r} failed (exit {returncode}): {command}\n{output}\nFix the cause and "
            "run the same command again: finished steps are skipped or re-applied idempotently.",
            title=f"Cluster step failed: {step}")


class InstanceError(NeodevError):
    """An instance name that cannot be used (invalid, or held by another workspace), or the
    machine's registry of instances that cannot be changed. Nothing was started."""

    title = "Instance"
    exit_code = 2
    http_status = 409
    FIELDS = ("instance", "workspace")

    def __init__(self, message: str, *, instance: str | None = None,
                 workspace: str | None = None) -> None:
        self.instance = instance
        self.workspace = workspace
        super().__init__(message)


class ForeignResourceError(DockerError):
    """A container, network or volume with this instance's name belongs to another workspace
    (or to nobody neodev knows): it is not taken over. Nothing of it was changed."""

    title = "Belongs to another workspace"
    http_status = 409
    FIELDS = ("resource", "workspace")

    def __init__(self, message: str, *, resource: str | None = None,
                 workspace: str | None = None) -> None:
        self.resource = resource
        self.workspace = workspace
        super().__init__(message)


class DaemonError(NeodevError):
    """The workspace daemon is not running, not answering, or answered with an error."""

    title = "Daemon error"
    exit_code = 6
    http_status = 503


WAIT_EXIT_CODES = {
    "start_failed": 7, "held_back": 7, "timeout": 9, "exited": 10, "crash_loop": 11,
    "unhealthy": 12, "image_missing": 13, "port_taken": 14,
}
"""`start --wait`'s exit code for each failure kind of its verdict (`Verdict.kind`; the
wait's kind is `WaitResult.failure`). Stable: scripts may branch on them."""


class StartupFailed(NeodevError):
    """`start --wait` ended with units that are not healthy; the exit code says why."""

    title = "Environment not healthy"
    exit_code = 7
    FIELDS = ("kind",)

    def __init__(self, message: str, *, kind: str = "start_failed") -> None:
        self.kind = kind
        super().__init__(message)
        self.exit_code = WAIT_EXIT_CODES.get(kind, StartupFailed.exit_code)


class ReportError(NeodevError):
    """A file that is not a readable neodev report, or an action a report cannot do."""

    title = "Report error"
    exit_code = 2
    http_status = 400


class ReadOnlyReportError(ReportError):
    """A report shows the environment as it was: nothing in it can be started or stopped."""

    title = "Read-only report"
    http_status = 405


class UnknownJobError(NeodevError):
    """A job id the daemon does not know (jobs are kept for the daemon's lifetime)."""

    title = "Unknown job"
    exit_code = 2
    http_status = 404
    FIELDS = ("job",)

    def __init__(self, job: str) -> None:
        self.job = job
        super().__init__(f"no job {job!r} in this daemon (see GET /v1/jobs)")


class JobBusyError(NeodevError):
    """Another job of the same kind is running; follow it or wait for it."""

    title = "Another operation is running"
    exit_code = 5
    http_status = 409
    FIELDS = ("job",)

    def __init__(self, job: str, message: str) -> None:
        self.job = job
        super().__init__(message)


class DatabaseError(NeodevError):
    """Postgres refused, or a database is in a state that forbids the operation: in use by
    sessions neodev does not own, missing, or a snapshot name already taken."""

    title = "Database error"
    exit_code = 8
    http_status = 409
    FIELDS = ("database", "snapshot")

    def __init__(self, message: str, *, database: str | None = None,
                 snapshot: str | None = None, title: str | None = None) -> None:
        self.database = database
        self.snapshot = snapshot
        super().__init__(message, title=title)


class UnknownSnapshotError(DatabaseError):
    """No snapshot of that name on the server."""

    title = "Unknown snapshot"
    exit_code = 2
    http_status = 404


# -- the pytest plugin (neodev.testing) ---------------------------------------------------


class ServiceError(NeodevError):
    """A test service of the pytest plugin could not be found, started or reached."""

    title = "Test service error"
    exit_code = 1


class AttachError(ServiceError):
    """Attach mode: the dev environment's Postgres cannot be used (not running, not healthy,
    no password)."""

    title = "Attach mode"


class RunLockTimeout(ServiceError):
    """Another process of the test run held the run lock for too long."""

    title = "Test run lock timeout"


class LeftoverError(DockerError):
    """Some resources of test runs could not be removed; `removed` still lists what was."""

    title = "Test leftovers not removed"
    FIELDS = ("removed", "problems")

    def __init__(self, removed: list[str], problems: list[str]) -> None:
        self.removed = removed
        self.problems = problems
        super().__init__("could not remove " + "; ".join(problems))

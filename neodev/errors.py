"""One error hierarchy for everything neodev reports to a person.

Each error has a short title (what went wrong, in a few words), a message (the detail: which file,
key or value, and what would be valid) and the process exit code the CLI uses for it. Lower layers
raise these; the CLI and the daemon print or serialise them, never a traceback.
"""

from __future__ import annotations


class NeodevError(Exception):
    """Base of every error neodev reports to a person."""

    title = "neodev error"
    exit_code = 1

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def to_dict(self) -> dict[str, object]:
        """The error as data, for the daemon API and `--json` output."""
        return {"type": type(self).__name__, "title": self.title, "message": self.message,
                "exit_code": self.exit_code}


class ConfigError(NeodevError):
    """A profile, compose file or .env is invalid. Nothing has been started."""

    title = "Configuration error"
    exit_code = 2

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


class DockerError(NeodevError):
    """The Docker engine is unreachable, or refused an operation."""

    title = "Docker error"
    exit_code = 3


class ProcessError(NeodevError):
    """A local process could not be started, stopped or probed."""

    title = "Process error"
    exit_code = 4


class ClusterError(NeodevError):
    """kind, kubectl or the cluster refused an operation."""

    title = "Cluster error"
    exit_code = 5


class DaemonError(NeodevError):
    """The workspace daemon is not running, not answering, or answered with an error."""

    title = "Daemon error"
    exit_code = 6


class StartupFailed(NeodevError):
    """`start --wait` ended with units that are not healthy."""

    title = "Environment not healthy"
    exit_code = 7

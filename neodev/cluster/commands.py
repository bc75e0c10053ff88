"""Running the cluster command plan: the executor seam, steps as data, and the step runner.

A plan is a list of `Step`s, each one external command (kind, kubectl, docker) plus an optional
read-only `Guard` that says the step's work is already done (the registry container exists, the
cluster exists). The runner executes them in order through an injected `Executor` (subprocess by
default; tests put recording stand-ins on PATH or pass their own), reports every step through a
progress callback, and stops at the first failure with `ClusterStepFailed` naming the step.
Because every step is idempotent or guarded, running the same plan again rolls forward from
wherever a previous run stopped.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from neodev.command import run_command_blocking
from neodev.errors import ClusterStepFailed
from neodev.protocol.cluster import ProgressStep

OUTPUT_TAIL_LINES = 12


@dataclass(frozen=True)
class CommandResult:
    """What one external command did."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, lines: int = OUTPUT_TAIL_LINES) -> str:
        """The last lines of stderr (or stdout when stderr is empty), for error messages."""
        text = (self.stderr or self.stdout).strip()
        return "\n".join(text.splitlines()[-lines:])


class Executor(Protocol):
    """Runs one command to completion. Never raises for a failing command: it returns the code."""

    def __call__(self, argv: Sequence[str], *, timeout: float,
                 stdin: str | None = None) -> CommandResult: ...


def run_subprocess(argv: Sequence[str], *, timeout: float,
                   stdin: str | None = None) -> CommandResult:
    """The real executor: `neodev.command` (own session, the whole group killed at `timeout`).

    A missing program gives return code 127 and a timeout 124 (as the shell would), so callers
    handle every failure the same way.
    """
    started = time.monotonic()
    try:
        done = run_command_blocking(argv, timeout=timeout,
                                    stdin=None if stdin is None else stdin.encode())
    except FileNotFoundError:
        return CommandResult(tuple(argv), 127, "", f"{argv[0]}: command not found",
                             time.monotonic() - started)
    stdout, stderr = done.output, done.stderr.decode("utf-8", "replace")
    if done.returncode is None:
        return CommandResult(tuple(argv), 124, "", f"{stderr}\ntimed out after {timeout:g}s",
                             done.duration)
    return CommandResult(tuple(argv), done.returncode, stdout, stderr, done.duration)


@dataclass(frozen=True)
class Guard:
    """A read-only command whose result means "this step's work is already done"."""

    argv: tuple[str, ...]
    expect: Literal["exit-zero", "line", "contains"]
    """exit-zero: the command succeeds; line: a stdout line equals `value`;
    contains: stdout contains `value`."""
    value: str = ""

    def satisfied(self, result: CommandResult) -> bool:
        if not result.ok:
            return False
        if self.expect == "exit-zero":
            return True
        if self.expect == "line":
            return self.value in (line.strip() for line in result.stdout.splitlines())
        return self.value in result.stdout


@dataclass(frozen=True)
class Step:
    """One command of a plan."""

    name: str
    argv: tuple[str, ...]
    skip_if: Guard | None = None
    timeout: float = 120.0
    stdin: str | None = None

    def describe(self) -> str:
        """The command line as a person would type it."""
        return shlex.join(self.argv)


Progress = Callable[[ProgressStep], None]


def run_steps(steps: Sequence[Step], executor: Executor, progress: Progress) -> list[ProgressStep]:
    """Run `steps` in order; return the final ProgressStep of each step that ran or was skipped.

    Raises:
        ClusterStepFailed: at the first failing step (already reported as `failed`); later
            steps are not run.
    """
    done: list[ProgressStep] = []
    for step in steps:
        progress(ProgressStep(step.name, "running", None, step.describe()))
        started = time.monotonic()
        if step.skip_if is not None:
            probe = executor(step.skip_if.argv, timeout=min(step.timeout, 60.0))
            if step.skip_if.satisfied(probe):
                final = ProgressStep(step.name, "skipped", time.monotonic() - started,
                                     f"already done ({shlex.join(step.skip_if.argv)})")
                progress(final)
                done.append(final)
                continue
        result = executor(step.argv, timeout=step.timeout, stdin=step.stdin)
        duration = time.monotonic() - started
        if not result.ok:
            progress(ProgressStep(step.name, "failed", duration, result.tail()))
            raise ClusterStepFailed(step.name, step.describe(), result.argv, result.returncode,
                                    result.tail())
        final = ProgressStep(step.name, "ok", duration, step.describe())
        progress(final)
        done.append(final)
    return done

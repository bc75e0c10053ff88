"""Shared by the FileWatcher tests: a batch recorder with bounded waits, and a spec maker."""

from __future__ import annotations

import time
from pathlib import Path

from neodev.config.model import ProcessSpec
from tests.waiting import until_async


class Batches:
    """An `on_change` that records each batch and when it arrived (time.monotonic)."""

    def __init__(self) -> None:
        self.got: list[list[str]] = []
        self.times: list[float] = []

    def __call__(self, paths: list[str]) -> None:
        self.got.append(paths)
        self.times.append(time.monotonic())

    @property
    def paths(self) -> set[str]:
        """Every path of every batch so far."""
        return {p for batch in self.got for p in batch}

    async def wait(self, n: int = 1, timeout: float = 5.0) -> None:
        """Until `n` batches arrived; AssertionError after `timeout` seconds."""
        await until_async(lambda: self.got, f"{n} batch(es)", timeout,
                          ok=lambda got: len(got) >= n, interval=0.01)

    async def wait_for(self, paths: set[str], timeout: float = 5.0) -> None:
        """Until every one of `paths` was in some batch; AssertionError after `timeout`."""
        await until_async(lambda: self.got, f"batches with {sorted(paths)}", timeout,
                          ok=lambda _: paths <= self.paths, interval=0.01)


def spec(cwd: Path, name: str, watch: tuple[str, ...], **kw: object) -> ProcessSpec:
    return ProcessSpec(name=name, cwd=cwd, command=("true",), watch=watch, **kw)  # type: ignore[arg-type]

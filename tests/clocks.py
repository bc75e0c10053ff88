"""The tests' one virtual clock, for code that takes its clock (and sleep) injected."""

from __future__ import annotations


class FakeClock:
    """Monotonic time that moves only when told (`now += ...`) or when `sleep` is called;
    every sleep is recorded."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)

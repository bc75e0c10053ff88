"""Turns individual probe attempts into a unit's health, with Docker healthcheck semantics.

`starting` until the first success; `healthy` after any success; `unhealthy` after `retries`
consecutive failures that happened after `start_period` (failures inside the start period do
not count, but a success there already makes the unit healthy). As with Docker, whose checks
run `interval` apart, at most one failure counts per `interval`: right after a start the
supervisor attempts every 10 ms to see the first success at once, and those quick attempts
must not make a unit that needs 50 ms to listen unhealthy after 30 ms. The clock is injected so
the semantics are unit-tested without sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from neodev.config.model import Probe
from neodev.engine.runner import HealthReport
from neodev.health.probes import ProbeResult, Strategy
from neodev.protocol import Health

# An attempt gets the probe's own timeout plus this margin before the tracker gives up on it
# (the strategies bound themselves; this only guards against a strategy that does not).
_GUARD_MARGIN = 2.0
_PACE_SLACK = 0.99
"""An attempt `interval` after the last counted failure counts even if timers fired a hair
early (or a clock summed intervals with rounding)."""


class ProbeTracker:
    """Applies interval / retries / start_period to a strategy's attempts.

    Args:
        strategy: What one attempt does.
        probe: The configured probe (for interval, timeout, retries, start_period).
        clock: Monotonic clock in seconds (injected for tests).
    """

    def __init__(self, strategy: Strategy, probe: Probe,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.strategy = strategy
        self.probe = probe
        self._clock = clock
        self._started_at = clock()
        self._counted_at = self._started_at
        """When the last failure counted (the start, before any): the next counts an interval
        later."""
        self.failures = 0
        self.health = Health.STARTING
        self.last = HealthReport(Health.STARTING, f"not checked yet: {strategy.describe()}")

    def restart(self) -> None:
        """The unit (re)started: back to `starting`, start period counted from now."""
        self._started_at = self._counted_at = self._clock()
        self.failures = 0
        self.health = Health.STARTING
        self.last = HealthReport(Health.STARTING, f"not checked yet: {self.strategy.describe()}")

    def in_start_period(self) -> bool:
        """True while failures do not count yet."""
        return self._clock() - self._started_at < self.probe.start_period

    def record(self, result: ProbeResult) -> HealthReport:
        """Fold one attempt into the health state (pure apart from the clock).

        Args:
            result: The attempt's outcome.

        Returns:
            The health after this attempt, with the attempt's detail.
        """
        now = self._clock()
        if result.ok:
            self.failures = 0
            self._counted_at = now
            self.health = Health.HEALTHY
            self.last = HealthReport(Health.HEALTHY, result.detail)
            return self.last
        retries = max(1, self.probe.retries)
        if self.in_start_period():
            detail = f"{result.detail} (in start period of {self.probe.start_period:g}s)"
        else:
            if now - self._counted_at >= self.probe.interval * _PACE_SLACK:
                self.failures += 1
                self._counted_at = now
            if self.failures >= retries:
                self.health = Health.UNHEALTHY
            counted = f"failure {self.failures}/{retries}" if self.failures else "not counted yet"
            detail = f"{result.detail} ({counted})"
        self.last = HealthReport(self.health, detail)
        return self.last

    async def observe(self) -> HealthReport:
        """Make one attempt now and fold it in."""
        guard = self.probe.timeout + _GUARD_MARGIN
        try:
            result = await asyncio.wait_for(self.strategy.check(), guard)
        except TimeoutError:
            result = ProbeResult(False, f"{self.strategy.describe()} -> no result within "
                                        f"{guard:g}s")
        return self.record(result)

"""A unit's readiness and liveness checks, built from its spec the same way for every driver.

Processes always use these strategies; a container uses them when its profile overrides the
readiness (`[services.x] readiness = { tcp = 5432 }`) or declares a liveness probe — otherwise
Docker's own healthcheck status is its readiness (the driver reads it). Checks run from the
host: a tcp or http probe names host addresses and ports (`127.0.0.1:5432`), an exec probe runs
on the host, a log probe reads the unit's output lines (`feed`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from neodev.config.model import Probe
from neodev.engine.runner import HealthReport
from neodev.health.probes import HttpProbe, LogLineProbe, build_strategy
from neodev.health.tracker import ProbeTracker
from neodev.protocol import Health

FIRST_PROBE_POLL = 0.01
"""Seconds between readiness probes neodev runs itself during the first second after a start
(a refused connection costs microseconds; the reload is ready the moment the app answers)."""

Resolve = Callable[[str], str]
"""Substitutes `@{service:port}` references in a setting (the daemon's resolver)."""


class UnitProbes:
    """Readiness and liveness trackers of one unit, rebuilt at each start.

    Args:
        readiness: The readiness probe, unless it is Docker's own healthcheck (None then).
        liveness: The liveness probe, if any.
        cwd: Working directory of exec probes.
    """

    def __init__(self, readiness: Probe | None, liveness: Probe | None,
                 cwd: str | None = None) -> None:
        self._probes = {"readiness": readiness if readiness and readiness.kind != "docker"
                        else None, "liveness": liveness}
        self._cwd = cwd
        self._trackers: dict[str, ProbeTracker] = {}
        self._log_probes: list[LogLineProbe] = []
        self._http_probes: list[HttpProbe] = []

    @property
    def has_readiness(self) -> bool:
        return self._probes["readiness"] is not None

    def restart(self, env: dict[str, str] | None = None, resolve: Resolve | None = None) -> None:
        """The unit (re)starts: fresh trackers (start period counted from now).

        Args:
            env: Environment of exec probes.
            resolve: Substitutes port references in http URLs.
        """
        self._trackers.clear()
        self._log_probes.clear()
        self._http_probes.clear()
        for role, probe in self._probes.items():
            if probe is None:
                continue
            if probe.url and resolve is not None:
                probe = probe.model_copy(update={"url": resolve(probe.url)})
            strategy = build_strategy(probe, cwd=self._cwd, env=env)
            if isinstance(strategy, LogLineProbe):
                self._log_probes.append(strategy)
            elif isinstance(strategy, HttpProbe):
                self._http_probes.append(strategy)
            self._trackers[role] = ProbeTracker(strategy, probe)

    def feed(self, lines: Sequence[str]) -> None:
        """Offer output lines to the log probes (a driver offers what it read at once, a chunk's
        lines: most units have no log probe, and then this is one call a chunk)."""
        for probe in self._log_probes:
            for line in lines:
                probe.feed(line)

    def answers(self, line: str, ts: float) -> bool:
        """Whether an output line answers one of these probes (`HttpProbe.answers`). Asked
        for every output line: without an http probe, no generator is made."""
        probes = self._http_probes
        return bool(probes) and any(probe.answers(line, ts) for probe in probes)

    async def readiness(self) -> HealthReport:
        """One readiness attempt, folded into starting / healthy / unhealthy."""
        tracker = self._trackers.get("readiness")
        if tracker is None:
            return HealthReport(Health.NONE, "no readiness check")
        return await tracker.observe()

    async def liveness(self) -> HealthReport | None:
        """One liveness attempt; UNHEALTHY once `retries` attempts in a row failed."""
        tracker = self._trackers.get("liveness")
        return None if tracker is None else await tracker.observe()

"""The container driver: one compose service as a `Runner` the engine can drive.

`start` adopts an unchanged running container instead of recreating it. "Unchanged" is decided
by a config hash label (sha256 of the canonical JSON of everything that shapes the container,
including the resolved image id, so a rebuilt image counts as a change). A changed container is
removed and created again; its named volumes are never removed here. Restarts belong to the
engine, so Docker's own restart policy is always "no". The create arguments come from
`neodev.docker.create_args`, the translation the pytest plugin uses too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from docker import DockerClient
from docker.errors import APIError, ImageNotFound, NotFound
from docker.models.containers import Container

from neodev.config.model import ContainerSpec, Probe
from neodev.docker.client import (
    ClientFactory,
    in_own_thread,
    post_to_loop,
    stop_timeout,
    translate,
)
from neodev.docker.create_args import CreateOptions, config_hash, create_args
from neodev.docker.images import ensure_image
from neodev.docker.labels import (
    COMPOSE_PROJECT,
    COMPOSE_SERVICE,
    CONFIG_HASH,
    NEODEV_WORKSPACE,
    container_name,
    refusal,
)
from neodev.docker.logs import SYSTEM, LogFollower
from neodev.docker.project import (
    DockerProject,
    anonymous_mounts,
    published_ports,
    volume_credentials,
)
from neodev.docker.stats import stats_from_sample
from neodev.engine.runner import (
    BuildOutcome,
    HealthReport,
    LaunchResult,
    LogSink,
    Progress,
    Stats,
)
from neodev.errors import DockerError, ForeignResourceError
from neodev.health.unit import FIRST_PROBE_POLL, UnitProbes
from neodev.protocol import Health

DOCKER_HEALTH_POLL = 0.2
"""Docker evaluates its own healthcheck; reading its verdict costs one inspect call, so it is
read this often until healthy (every dependent and `start --wait` waits on that moment)."""
EARLY_CHECK_INTERVAL = 0.5
"""While Docker still says "starting", neodev runs the healthcheck's own test in the container
this often (Docker 25's `start_interval`, which this engine may lack): Docker runs it first one
whole `interval` after the start (5 s for Prometheus here) however soon the service is up. An
exec costs the engine tens of milliseconds, hence not every poll."""
DOCKER_HEALTH_TIMEOUT_NS = 30_000_000_000
"""Docker's own default healthcheck timeout, for a healthcheck that names none."""


class ContainerRunner:
    """Runs one `ContainerSpec` as `<project>-<service>-1` on the project network.

    Args:
        spec: the service's frozen spec.
        project: compose project name.
        network: the project network (created beforehand by `DockerProject.ensure_network`).
        sink: receives (line, stream, timestamp) for each output line, on the event loop.
            Output lines come as "stdout" (Docker merges stdout and stderr in one follow
            stream); neodev's own lines (pull progress, stream lost) as "neodev".
        client_factory: the shared `ClientFactory` (a new one when omitted).
        on_ports: called after each start with the host ports Docker actually published,
            `{(container port, protocol): host port}` (for `@{service:port}` and endpoints).
        instance: the instance's `DockerProject` (with its `Owner`): a container with this
            name that is another workspace's (or unlabelled) is refused, not taken over, and
            the named volumes are claimed, labelled, before the container is created. None:
            no such checks (the driver's own tests).
    """

    def __init__(self, spec: ContainerSpec, project: str, network: str, sink: LogSink,
                 client_factory: ClientFactory | None = None,
                 on_ports: Callable[[dict[tuple[int, str], int]], None] | None = None,
                 instance: DockerProject | None = None) -> None:
        self.spec = spec
        self.project = project
        self.network = network
        self._instance = instance
        self.container_name = container_name(project, spec.service)
        self._sink = sink
        self._clients = client_factory or ClientFactory()
        self._container_id: str | None = None
        self._follower: LogFollower | None = None
        self._on_ports = on_ports
        # A readiness override (tcp/http/exec/log from the host) replaces Docker's healthcheck;
        # a liveness probe runs on top of either.
        self._probes = UnitProbes(spec.readiness, spec.liveness)
        self._early_check: asyncio.Task[tuple[int, str]] | None = None
        """The healthcheck test neodev runs itself while Docker's verdict is "starting"."""
        self._early_check_at = 0.0
        self._early_verdict: HealthReport | None = None
        """The last such test's verdict: what is said between two tests."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def container_id(self) -> str | None:
        """Id of the container started or adopted by the last `start`."""
        return self._container_id

    @property
    def first_health_poll(self) -> float:
        # A readiness override is probed from the host like a process's; Docker's own verdict
        # changes only at its healthcheck's interval and costs an inspect call per look.
        return FIRST_PROBE_POLL if self._host_readiness() else DOCKER_HEALTH_POLL

    @property
    def health_poll(self) -> float:
        readiness = self._host_readiness()
        return readiness.interval if readiness else DOCKER_HEALTH_POLL

    def _host_readiness(self) -> Probe | None:
        """The profile's readiness override, probed from the host (None: Docker's own)."""
        return self.spec.readiness if self._probes.has_readiness else None

    @property
    def can_build(self) -> bool:
        return False  # compose services run images; neodev does not build them

    async def build(self) -> BuildOutcome:
        return BuildOutcome(True, "", 0.0)

    def _line(self, line: str, stream: str, ts: float) -> None:
        self._sink(line, stream, ts)
        self._probes.feed((line,))

    async def start(self, progress: Progress | None = None) -> LaunchResult:
        """Ensure the image, then adopt, restart or (re)create the container and follow its logs.

        Raises:
            DockerError: image unavailable, engine unreachable, or the engine refused.
        """
        loop = asyncio.get_running_loop()
        spec = self.spec
        self._early_verdict, self._early_check_at = None, 0.0  # a new run: tested afresh

        say = progress or (lambda step: None)
        pulling = False

        def pull_progress(line: str) -> None:
            nonlocal pulling
            if not pulling:
                pulling = True
                post_to_loop(loop, say, f"pulling image {spec.image}")
            post_to_loop(loop, self._sink, f"pull {spec.image}: {line}", SYSTEM, time.time())

        image_id = await self._clients.call(
            f"look up image {spec.image}",
            lambda c: ensure_image(c, spec.image, spec.image_variable, pull_progress))
        wanted = config_hash(spec, self.project, self.network, image_id)
        await self._stop_following()
        since = time.time()
        say(f"starting container {self.container_name}")
        container_id, outcome = await self._clients.call(
            f"start container {self.container_name}", lambda c: self._launch(c, wanted))
        self._container_id = container_id
        if self._on_ports is not None and self.spec.ports:
            self._on_ports(await self._clients.call(
                f"inspect ports of {self.container_name}",
                lambda c: published_ports(c.containers.get(container_id))))
        self._probes.restart()
        # Adopted: only what comes next (the previous daemon already saw the rest).
        self._follow(loop, since if outcome != "created" else None)
        return LaunchResult(adopted=outcome == "adopted",
                            detail=f"{outcome} container {self.container_name}")

    def _launch(self, client: DockerClient, wanted: str) -> tuple[str, str]:
        """Blocking part of start: returns (container id, adopted|started|created)."""
        keep: Container | None = None
        inherited: dict[str, str] = {}
        owner = self._instance.owner if self._instance is not None else None
        for c in client.containers.list(all=True, filters={"label": [
                f"{COMPOSE_PROJECT}={self.project}", f"{COMPOSE_SERVICE}={self.spec.service}"]}):
            problem = owner and refusal("container", c.name, c.labels, owner, self.project)
            if problem:
                raise ForeignResourceError(problem, resource=c.name,
                                           workspace=c.labels.get(NEODEV_WORKSPACE))
            # One of ours from before workspaces were labelled is replaced, labelled.
            labelled = owner is None or c.labels.get(NEODEV_WORKSPACE) == owner.workspace
            if keep is None and labelled and c.labels.get(CONFIG_HASH) == wanted:
                keep = c
            else:  # stale config (or a duplicate): replace it, keeping its volumes
                inherited.update(self._discard(c))
        if keep is not None:
            if keep.status == "running":
                return keep.id, "adopted"
            if keep.status == "paused":
                keep.unpause()
                return keep.id, "adopted"
            keep.start()
            return keep.id, "started"
        container = self._create(client, wanted, inherited)
        try:
            container.start()
        except APIError:
            # Half-made: remove it so the next start does not adopt a container that never ran.
            self._discard(container)
            raise
        return container.id, "created"

    def _discard(self, container: Container) -> dict[str, str]:
        """Stop and remove a container, keeping its volumes.

        Returns:
            Its anonymous volumes by destination, for the replacement to mount again (as
            compose does on recreate), so their data is neither lost nor left dangling.
        """
        try:
            anonymous = anonymous_mounts(container)
            container.stop(timeout=stop_timeout(self.spec.stop_grace))
            container.remove(v=False)
        except NotFound:
            return {}  # already gone, which is what we wanted
        return anonymous

    def _create(self, client: DockerClient, wanted: str,
                inherited: dict[str, str] | None = None) -> Container:
        spec = self.spec
        own: dict[str, str] = {}
        if self._instance is not None:
            # Never left to Docker's implicit creation, which makes unlabelled volumes.
            made_for = volume_credentials([spec])
            for mount in spec.volumes:
                if mount.type == "volume":
                    self._instance.claim_volume(client, mount.source, made_for.get(mount.source))
            own = self._instance.owner.labels if self._instance.owner else {}
        kwargs = create_args(spec, self.project, self.network, wanted, CreateOptions(
            name=self.container_name, inherited_volumes=inherited or {}, labels=own))
        # Aliases need the client's API version, so they are added here, not in create_args.
        kwargs["networking_config"] = {self.network: client.api.create_endpoint_config(
            aliases=[spec.service])}
        try:
            return client.containers.create(**kwargs)
        except APIError as e:
            if e.status_code == 409:
                raise DockerError(
                    f"A container named {self.container_name} already exists but is not "
                    f"labelled as service {spec.service} of project {self.project}. Remove it "
                    f"(docker rm -f {self.container_name}) or use another project name.") from e
            raise

    def _follow(self, loop: asyncio.AbstractEventLoop, since: float | None) -> None:
        assert self._container_id is not None
        self._follower = LogFollower(self._clients, self._container_id, self._line, loop,
                                     since)
        self._follower.start()

    async def _stop_following(self) -> None:
        follower, self._follower = self._follower, None
        if follower is not None:
            await self._clients.run(follower.stop)

    async def can_start(self) -> bool:
        """Whether the image is there now: a local lookup (one engine call), never a pull."""
        def present(client: DockerClient) -> bool:
            try:
                client.images.get(self.spec.image)
            except ImageNotFound:
                return False
            return True

        return await self._clients.call(f"look up image {self.spec.image}", present)

    def answers_probe(self, line: str, ts: float) -> bool:
        return self._probes.answers(line, ts)

    async def wait_exit(self) -> int:
        """The container's exit code once it stops running; -1 if it was removed meanwhile.

        Raises:
            DockerError: not started, or the engine became unreachable.
        """
        cid = self._require_container()

        def wait() -> int:
            client = self._clients.fresh()  # own client: this call blocks for a lifetime
            try:
                return int(client.containers.get(cid).wait()["StatusCode"])
            except NotFound:
                return -1  # removed meanwhile (e.g. by `docker rm -f`)
            except Exception as e:
                raise translate(e, f"wait for container {self.container_name}") from e
            finally:
                client.close()

        return await in_own_thread(wait, f"neodev-wait-{self.spec.name}")

    async def health(self) -> HealthReport:
        """The readiness override's verdict when there is one, else Docker's own health status
        (NONE when the container has no healthcheck)."""
        cid = self._require_container()
        if self._probes.has_readiness:
            return await self._probes.readiness()

        def inspect(client: DockerClient) -> tuple[HealthReport, dict[str, Any]]:
            try:
                c = client.containers.get(cid)
            except NotFound:
                return (HealthReport(Health.UNHEALTHY, f"container {self.container_name} is gone"),
                        {})
            healthcheck = c.attrs.get("Config", {}).get("Healthcheck") or {}
            state = c.attrs.get("State", {})
            if state.get("Status") != "running":
                return HealthReport(Health.UNHEALTHY,
                                    f"container is {state.get('Status')} "
                                    f"(exit code {state.get('ExitCode')})"), healthcheck
            health = state.get("Health")
            if not health:
                return HealthReport(Health.NONE), healthcheck
            log = health.get("Log") or []
            detail = str(log[-1].get("Output", "")).strip()[-500:] if log else ""
            try:
                return HealthReport(Health(health.get("Status")), detail), healthcheck
            except ValueError:  # "none" or a status this Docker added later
                return (HealthReport(Health.NONE, f"docker health status {health.get('Status')}"),
                        healthcheck)

        report, healthcheck = await self._clients.call(
            f"inspect container {self.container_name}", inspect)
        if report.health is Health.STARTING:
            return await self._check_early(cid, healthcheck, report)
        return report

    async def _check_early(self, cid: str, healthcheck: dict[str, Any],
                           docker_says: HealthReport) -> HealthReport:
        """Docker's verdict is still "starting": run the healthcheck's test now, as Docker will
        (the same command, in the container, with its environment), and report healthy as soon
        as it passes; otherwise what Docker says. One test at a time, at most every
        EARLY_CHECK_INTERVAL, each bounded by the healthcheck's timeout."""
        argv = healthcheck_argv(healthcheck.get("Test") or [])
        if argv is None:
            return docker_says
        last = self._early_verdict or docker_says
        if self._early_check is None:
            if time.monotonic() - self._early_check_at < EARLY_CHECK_INTERVAL:
                return last
            self._early_check_at = time.monotonic()

            def run(client: DockerClient) -> tuple[int, str]:
                result = client.containers.get(cid).exec_run(argv)
                return result.exit_code, result.output.decode(errors="replace")

            what = f"run the healthcheck of {self.container_name}"
            self._early_check = asyncio.ensure_future(in_own_thread(
                lambda: self._clients.call_sync(what, run), f"neodev-check-{self.spec.name}"))
        timeout = (healthcheck.get("Timeout") or DOCKER_HEALTH_TIMEOUT_NS) / 1e9
        try:
            code, output = await asyncio.wait_for(asyncio.shield(self._early_check), timeout)
        except TimeoutError:
            self._early_check = None  # abandoned: its thread ends with the command
            return last
        except DockerError:  # gone meanwhile, or the engine refused: Docker's verdict stands
            self._early_check = None
            return last
        self._early_check = None
        if code != 0:
            self._early_verdict = HealthReport(Health.STARTING,
                                               output.strip()[-500:] or docker_says.detail)
        else:
            self._early_verdict = HealthReport(Health.HEALTHY, "healthcheck passed (run by "
                                               "neodev ahead of Docker's first check)")
        return self._early_verdict

    async def liveness(self) -> HealthReport | None:
        """One liveness attempt (from the host), or None without a liveness probe."""
        return await self._probes.liveness()

    async def stop(self, grace: float) -> None:
        """Stop the container (its stop signal, then SIGKILL after `grace` s). Idempotent."""
        cid = self._container_id
        if cid is not None:
            def stop(client: DockerClient) -> None:
                with contextlib.suppress(NotFound):  # already gone: nothing left to stop
                    client.containers.get(cid).stop(timeout=stop_timeout(grace))

            await self._clients.call(f"stop container {self.container_name}", stop)
        await self._stop_following()

    async def stats(self) -> Stats | None:
        """One CPU/memory sample (takes ~1-2 s: Docker samples twice), None when not running."""
        cid = self._container_id
        if cid is None:
            return None

        def sample(client: DockerClient) -> Stats | None:
            try:
                c = client.containers.get(cid)
                if c.status != "running":
                    return None
                return stats_from_sample(c.stats(stream=False))
            except NotFound:
                return None

        return await self._clients.call(f"sample stats of {self.container_name}", sample)

    def _require_container(self) -> str:
        if self._container_id is None:
            raise DockerError(f"{self.container_name} has not been started by neodev yet")
        return self._container_id


def healthcheck_argv(test: list[str]) -> list[str] | None:
    """The command a Docker healthcheck `Test` runs (["CMD", ...], ["CMD-SHELL", "..."]), or
    None when there is none to run (["NONE"], empty, or inherited from the image: [])."""
    if len(test) >= 2 and test[0] == "CMD":
        return list(test[1:])
    if len(test) == 2 and test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", test[1]]
    return None

"""pytest plugin (entry point `pytest11: neodev`): the dev environment's services for tests.

Loaded by every pytest run in an environment where neodev is installed, so importing it is
cheap: no Docker, no testcontainers, no psycopg until a test asks for a service. Then the
fixtures start the profile's containers through testcontainers (`neodev.testing.services`),
hand out endpoints and per-test databases, and attach the services' last log lines to the
report of a failing test.

Options: `--neodev-profile` / ini `neodev_profile` (default `local`), `--neodev-attach` / ini
`neodev_attach`, ini `neodev_migrate`, `neodev_postgres`, `neodev_startup_timeout`,
`neodev_pull_timeout`, `neodev_log_lines`, `neodev_volumes`. Marker:
`@pytest.mark.neodev("postgres", ...)`. Fixtures: `neodev_session`, `neodev_service`,
`neodev_services`, `neodev_postgres`, `neodev_prometheus`, `neodev_db`. Hook:
`pytest_neodev_migrate(dsn, postgres)`. The Postgres fixtures are about the profile's Postgres
service found by its settings, as `neodev db` finds it, whatever its name (`neodev_postgres`
names one when the profile has several).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, Literal, NoReturn

import pytest

from neodev.errors import NeodevError
from neodev.jsontypes import JsonObject
from neodev.paths import find_workspace
from neodev.testing.endpoints import PostgresService, ServiceEndpoint
from neodev.testing.run import RunInfo
from neodev.testing.settings import (
    DEFAULT_LOG_LINES,
    DEFAULT_PROFILE,
    DEFAULT_PULL_TIMEOUT,
    DEFAULT_STARTUP_TIMEOUT,
    Settings,
)

if TYPE_CHECKING:
    from neodev.testing.services import NeodevSession

RUN = pytest.StashKey[RunInfo]()
SETTINGS = pytest.StashKey[Settings]()
SESSION = pytest.StashKey["NeodevSession"]()
USED = pytest.StashKey[list[str]]()
"""Per test item: the services it used (with their dependencies), for the failure report."""
WORKERINPUT_KEY = "neodev_run"
PROMETHEUS = "prometheus"


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from neodev.testing import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("neodev", "neodev: the dev environment's services for tests")
    group.addoption("--neodev-profile", dest="neodev_profile", default=None, metavar="NAME",
                    help="profile whose container services the tests use (ini: "
                         f"neodev_profile; default {DEFAULT_PROFILE})")
    group.addoption("--neodev-attach", dest="neodev_attach", action="store_true", default=None,
                    help="use the running dev environment's Postgres, in a fresh database "
                         "created and dropped per session (ini: neodev_attach)")
    parser.addini("neodev_profile", "neodev profile for the test services", default=None)
    parser.addini("neodev_attach", "use the running dev environment's Postgres", type="bool",
                  default=False)
    parser.addini("neodev_migrate", "SQL files (relative to the rootdir) or module:function "
                  "callables taking a DSN, run once into the template database",
                  type="linelist", default=[])
    parser.addini("neodev_postgres", "the Postgres service neodev_postgres and neodev_db use, "
                  "when the profile has several (default: its only one)", default=None)
    parser.addini("neodev_startup_timeout", "seconds a service may take to become healthy",
                  default=str(DEFAULT_STARTUP_TIMEOUT))
    parser.addini("neodev_pull_timeout", "seconds a missing image may take to pull",
                  default=str(DEFAULT_PULL_TIMEOUT))
    parser.addini("neodev_log_lines", "service log lines attached to a failing test's report",
                  default=str(DEFAULT_LOG_LINES))
    parser.addini("neodev_volumes", "what replaces the profile's named volumes: tmpfs "
                  "(in memory, the default) or anonymous (on disk, removed with the container)",
                  default="tmpfs")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "neodev(*services): start these services of the neodev profile (and what "
                   "they depend on) for the test; they stay up for the rest of the run")
    workerinput: JsonObject | None = getattr(config, "workerinput", None)
    if workerinput is not None and WORKERINPUT_KEY in workerinput:
        run = RunInfo.from_dict(workerinput[WORKERINPUT_KEY]).for_worker(
            str(workerinput.get("workerid", "gw")))
    else:
        run = RunInfo.new()
    config.stash[RUN] = run


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: every worker joins this process's run (one container set)."""
    node.workerinput[WORKERINPUT_KEY] = node.config.stash[RUN].to_dict()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    run = config.stash.get(RUN, None)
    active = config.stash.get(SESSION, None)
    if active is not None:
        active.close()
    if run is None or not run.is_owner or not run.state.exists():
        return  # a worker, or nothing was started: nothing to end
    from neodev.testing.services import NeodevSession

    problems = (active or NeodevSession(settings(config), run)).finish()
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    for note in active.notes if active is not None else ():
        reporter.write_line(f"neodev: {note}", yellow=True)
    for problem in problems:
        reporter.write_line(f"neodev: cleaning up the test services: {problem}", red=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    active = item.config.stash.get(SESSION, None)
    used = item.stash.get(USED, None)
    if report.failed and active is not None and used:
        from neodev.testing.evidence import log_sections

        lines = settings(item.config).log_lines
        report.sections.extend(log_sections(active, used, lines))
    return report


def settings(config: pytest.Config) -> Settings:
    """The plugin's options: command line, then the ini file, then the defaults."""
    if SETTINGS not in config.stash:
        config.stash[SETTINGS] = _settings(config)
    return config.stash[SETTINGS]


def _settings(config: pytest.Config) -> Settings:
    profile = config.getoption("neodev_profile") or config.getini("neodev_profile")
    attach = config.getoption("neodev_attach")
    return Settings(
        workspace=find_workspace(config.invocation_params.dir),
        profile=str(profile or DEFAULT_PROFILE),
        attach=bool(config.getini("neodev_attach") if attach is None else attach),
        postgres=str(config.getini("neodev_postgres") or "").strip() or None,
        migrate=tuple(config.getini("neodev_migrate")),
        rootdir=config.rootpath,
        startup_timeout=_number(config, "neodev_startup_timeout"),
        pull_timeout=_number(config, "neodev_pull_timeout"),
        log_lines=int(_number(config, "neodev_log_lines")),
        volumes=_volumes(config),
    )


def _volumes(config: pytest.Config) -> Literal["tmpfs", "anonymous"]:
    raw = str(config.getini("neodev_volumes") or "tmpfs").strip()
    if raw == "anonymous":
        return "anonymous"
    if raw != "tmpfs":
        raise pytest.UsageError(f"ini option neodev_volumes = {raw!r}: use tmpfs or anonymous")
    return "tmpfs"


def _number(config: pytest.Config, name: str) -> float:
    raw = config.getini(name)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise pytest.UsageError(f"ini option {name} = {raw!r} is not a number") from None
    if value <= 0:
        raise pytest.UsageError(f"ini option {name} = {raw!r} must be greater than 0")
    return value


def _fail(error: NeodevError) -> NoReturn:
    """Fail the test with the error's title and message (no traceback: it would add nothing)."""
    pytest.fail(f"{error.title}: {error.message}", pytrace=False)


def _use(item: pytest.Item, active: NeodevSession, name: str) -> ServiceEndpoint:
    """Start (if needed) and return a service, remembering that this test used it."""
    used = item.stash.setdefault(USED, [])
    try:
        for needed in active.start_order([name]):
            if needed not in used:
                used.append(needed)
        return active.service(name)
    except NeodevError as e:
        _fail(e)


@pytest.fixture(scope="session")
def neodev_session(request: pytest.FixtureRequest) -> Iterator[NeodevSession]:
    """The run's services (started lazily); mostly for the other fixtures."""
    from neodev.testing.migrations import combined, ini_migrations
    from neodev.testing.services import NeodevSession

    config = request.config
    opts = settings(config)

    def hook(target: PostgresService) -> None:
        config.hook.pytest_neodev_migrate(dsn=target.dsn, postgres=target)

    active = NeodevSession(opts, config.stash[RUN], migrate=combined(
        ini_migrations(opts.migrate, opts.rootdir), hook))
    config.stash[SESSION] = active
    yield active
    active.close()


@pytest.fixture(autouse=True)
def _neodev_marked_services(request: pytest.FixtureRequest) -> None:
    """Start what `@pytest.mark.neodev(...)` names before the test (no-op without it)."""
    names = [name for marker in request.node.iter_markers("neodev") for name in marker.args]
    if not names:
        return
    for name in names:
        if not isinstance(name, str):
            raise pytest.UsageError(f"@pytest.mark.neodev takes service names, got {name!r}")
    active: NeodevSession = request.getfixturevalue("neodev_session")
    for name in dict.fromkeys(names):
        _use(request.node, active, name)


@pytest.fixture
def neodev_service(request: pytest.FixtureRequest, neodev_session: NeodevSession
                   ) -> Callable[[str], ServiceEndpoint]:
    """A factory: `neodev_service("prometheus")` starts a service and returns its endpoint."""

    def get(name: str) -> ServiceEndpoint:
        return _use(request.node, neodev_session, name)

    return get


@pytest.fixture
def neodev_services(request: pytest.FixtureRequest, neodev_session: NeodevSession
                    ) -> dict[str, ServiceEndpoint]:
    """Endpoints of the services the test's `neodev` marker names, or of every container
    service of the profile when it has none."""
    names = [name for marker in request.node.iter_markers("neodev") for name in marker.args]
    if not names:
        try:
            names = list(neodev_session.plan.containers)
        except NeodevError as e:
            _fail(e)
    return {name: _use(request.node, neodev_session, name) for name in dict.fromkeys(names)}


@pytest.fixture
def neodev_postgres(request: pytest.FixtureRequest, neodev_session: NeodevSession
                    ) -> PostgresService:
    """The profile's Postgres (host, port, user, password, dbname, dsn) on the session's
    database: the profile's own in a container of the run (one per xdist worker), or a
    fresh one on the dev server in attach mode."""
    try:
        name = neodev_session.postgres_service
    except NeodevError as e:
        _fail(e)
    _use(request.node, neodev_session, name)
    try:
        return neodev_session.postgres()
    except NeodevError as e:
        _fail(e)


@pytest.fixture
def neodev_prometheus(request: pytest.FixtureRequest, neodev_session: NeodevSession
                      ) -> ServiceEndpoint:
    """The profile's Prometheus (`url` is its HTTP base URL)."""
    return _use(request.node, neodev_session, PROMETHEUS)


@pytest.fixture
def neodev_db(neodev_postgres: PostgresService, neodev_session: NeodevSession
              ) -> Iterator[PostgresService]:
    """A database of the test's own, cloned from the migrated template, dropped afterwards."""
    try:
        database = neodev_session.database()
    except NeodevError as e:
        _fail(e)
    yield database
    neodev_session.drop_database(database)

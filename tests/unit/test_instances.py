"""Instances without Docker: names, the precedence of the ways to give one, the registry, the
record a workspace keeps, and the port block a later instance of a profile gets."""

from __future__ import annotations

import json
import textwrap
import threading
from pathlib import Path

import pytest

from neodev.config.instance import ProjectNames
from neodev.errors import InstanceError
from neodev.instances import naming
from neodev.instances.blocks import first_free_block, settle_ports
from neodev.instances.choose import Wanted, Workspace, choose_name, settle_record
from neodev.instances.registry import InstanceRecord, Registry, read_instance, state_home
from neodev.instances.resolve import resolve_plan
from neodev.paths import WorkspacePaths


def test_a_directory_name_becomes_a_compose_project_name_as_compose_makes_it() -> None:
    assert naming.from_directory("NeoTool") == "neotool"
    assert naming.from_directory("feature/ABC-12 fix") == "featureabc-12fix"
    assert naming.from_directory("__-x.y") == "xy"
    assert naming.from_directory("???") == naming.FALLBACK
    assert naming.suffixed("ws", "/a/ws") == naming.suffixed("ws", "/a/ws")
    assert naming.suffixed("ws", "/a/ws") != naming.suffixed("ws", "/b/ws")
    assert naming.problem("Bad Name") and naming.problem("-x") and not naming.problem("ok-1")


def _record(name: str, workspace: Path, **more: object) -> InstanceRecord:
    return InstanceRecord(name=name, workspace=str(workspace), profile_project="neotool",
                          **more)  # type: ignore[arg-type]


NAMES = ProjectNames(environment=None, profile="neotool")


def test_the_first_workspace_gets_the_profile_s_name_a_second_one_its_directory_s(
        tmp_path: Path) -> None:
    first, second = tmp_path / "main", tmp_path / "feature-x"
    for d in (first, second):
        d.mkdir()
    assert choose_name(Workspace(str(first), None, None), NAMES, Wanted(), []) == "neotool"
    taken = [_record("neotool", first)]
    assert choose_name(Workspace(str(second), None, None), NAMES, Wanted(), taken) == "feature-x"


def test_two_workspaces_whose_directories_share_a_name_are_told_apart(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "neotool", tmp_path / "b" / "neotool"
    for d in (a, b):
        d.mkdir(parents=True)
    entries = [_record("neotool", tmp_path / "main")]
    (tmp_path / "main").mkdir()
    name_a = choose_name(Workspace(str(a), None, None), NAMES, Wanted(), entries)
    assert name_a == naming.suffixed("neotool", str(a))  # its directory's name is taken
    entries.append(_record(name_a, a))
    name_b = choose_name(Workspace(str(b), None, None), NAMES, Wanted(), entries)
    assert name_b not in {"neotool", name_a} and name_b.startswith("neotool-")


def test_precedence_option_environment_compose_recorded_new(tmp_path: Path) -> None:
    here = Workspace(str(tmp_path), _record("recorded", tmp_path), None)
    compose = ProjectNames(environment="from-compose", profile="neotool")
    assert choose_name(here, compose, Wanted("opt", "env"), []) == "opt"
    assert choose_name(here, compose, Wanted(None, "env"), []) == "env"
    assert choose_name(here, compose, Wanted(), []) == "from-compose"
    assert choose_name(here, NAMES, Wanted(), []) == "recorded"


def test_a_legacy_project_is_kept_by_the_workspace_that_ran_it(tmp_path: Path) -> None:
    here = Workspace(str(tmp_path), None, last_project="oldname")
    assert choose_name(here, NAMES, Wanted(), []) == "oldname"
    record = settle_record(here, "oldname", "local", NAMES, [])
    assert record.legacy_project == "oldname" and record.profile_ports


def test_an_explicit_name_another_existing_workspace_holds_is_refused_naming_it(
        tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    entries = [_record("shared", other)]
    with pytest.raises(InstanceError, match=f"is the workspace {other}") as caught:
        choose_name(Workspace(str(tmp_path / "me"), None, None), NAMES, Wanted("shared"),
                    entries)
    assert caught.value.workspace == str(other)
    # the other workspace is gone: its name is free again (prune cleans up what it left)
    orphan = [_record("shared", tmp_path / "deleted")]
    assert choose_name(Workspace(str(tmp_path / "me"), None, None), NAMES, Wanted("shared"),
                       orphan) == "shared"
    with pytest.raises(InstanceError, match="lowercase"):
        choose_name(Workspace(str(tmp_path), None, None), NAMES, Wanted("Not OK"), [])


def test_only_the_first_instance_of_a_profile_holds_its_ports(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for d in (first, second):
        d.mkdir()
    one = settle_record(Workspace(str(first), None, None), "neotool", "local", NAMES, [])
    two = settle_record(Workspace(str(second), None, None), "b", "local", NAMES, [one])
    assert one.profile_ports and not two.profile_ports
    other_profile = ProjectNames(None, "shop")
    assert settle_record(Workspace(str(second), None, None), "b", "local", other_profile,
                         [one]).profile_ports


def test_registry_changes_happen_under_one_lock_with_a_deadline(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "reg")
    with registry.locked():
        registry.put(_record("a", tmp_path))
        held = threading.Event()
        outcome: list[str] = []

        def other() -> None:
            try:
                with Registry(tmp_path / "reg").locked(timeout=0.2):
                    outcome.append("taken")
            except InstanceError as exc:
                outcome.append(exc.message)
            held.set()

        thread = threading.Thread(target=other)
        thread.start()
        assert held.wait(5)
        thread.join()
    assert "stayed locked" in outcome[0]
    with registry.locked():  # one workspace, one instance: a rename replaces its entry
        registry.put(_record("b", tmp_path))
    assert [e.name for e in registry.entries()] == ["b"]
    assert oct((tmp_path / "reg" / "b.json").stat().st_mode & 0o777) == "0o600"


def test_state_home_follows_neodev_state_home_then_xdg(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    assert state_home({"NEODEV_STATE_HOME": str(tmp_path)}) == tmp_path
    monkeypatch.delenv("NEODEV_STATE_HOME")
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    assert state_home({"XDG_STATE_HOME": "/x/state"}) == Path("/x/state/neodev")
    assert state_home({"XDG_STATE_HOME": "relative"}) == Path.home() / ".local/state/neodev"


def _workspace(root: Path, name: str = "neotool") -> WorkspacePaths:
    (root / "profiles").mkdir(parents=True)
    (root / "app").mkdir()
    (root / "profiles" / "local.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "{name}"
        [processes.web]
        cwd = "../app"
        command = "python3 -m http.server"
        port = 8080
        extra_ports = [8088]
        readiness = {{ http = "http://127.0.0.1:8088/health" }}
        metrics = "/metrics"
        env = {{ PORT = "@{{web:8080}}", HEALTH = "@{{web:8088}}" }}
        [processes.api]
        cwd = "../app"
        command = "python3 -m http.server"
        port = 3000
        readiness = {{ tcp = 3000 }}
        """))
    return WorkspacePaths(root)


def test_a_second_checkout_is_recorded_and_gets_a_block_that_follows_everywhere(
        tmp_path: Path) -> None:
    env = {"NEODEV_STATE_HOME": str(tmp_path / "state")}
    first = _workspace(tmp_path / "main")
    second = _workspace(tmp_path / "feature")
    plan_a = resolve_plan(first, "local", env)
    assert plan_a.project == "neotool" and plan_a.profile_ports
    assert plan_a.processes["web"].port == 8080
    plan_b = resolve_plan(second, "local", env)
    assert plan_b.project == "feature" and not plan_b.profile_ports
    assert plan_b.port_block is None  # the daemon allocates it (with a bind test)
    recorded = read_instance(second)
    assert recorded is not None and recorded.name == "feature"
    assert json.loads(second.instance_file.read_text())["name"] == "feature"

    busy = {20000}
    settled = settle_ports(second, plan_b, lambda port: port not in busy, env)
    assert settled.port_block == 20100  # 20000 is in use now
    assert settled.port_map == {3000: 20100, 8080: 20101, 8088: 20102}
    web, api = settled.processes["web"], settled.processes["api"]
    assert (web.port, web.extra_ports, web.metrics and web.metrics.port) == (20101, (20102,),
                                                                            20101)
    assert web.readiness and web.readiness.url == "http://127.0.0.1:20102/health"
    assert api.readiness and api.readiness.port == 20100
    assert web.env["PORT"] == "@{web:8080}"  # resolved at start, through port_map
    # stable: the next resolution applies the recorded block without any bind test
    again = resolve_plan(second, "local", env)
    assert again.port_block == 20100 and again.processes["web"].port == 20101
    assert resolve_plan(first, "local", env).port_map == {}


def test_first_free_block_skips_other_instances_blocks_and_ports_in_use(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    entries = [_record("o", other, port_block=20000, profile_ports=False)]
    assert first_free_block(3, entries, str(tmp_path), lambda p: True) == 20100
    assert first_free_block(3, entries, str(tmp_path), lambda p: p != 20102) == 20200
    gone = [_record("o", tmp_path / "deleted", port_block=20000)]
    assert first_free_block(3, gone, str(tmp_path), lambda p: True) == 20000
    with pytest.raises(InstanceError, match="no free block"):
        first_free_block(3, [], str(tmp_path), lambda p: False)


def test_a_process_port_reference_must_name_a_declared_port(tmp_path: Path) -> None:
    from neodev.config.loader import load_plan
    from neodev.errors import ConfigError

    paths = _workspace(tmp_path / "ws")
    profile = paths.root / "profiles" / "local.toml"
    profile.write_text(profile.read_text().replace("@{web:8088}", "@{web:9999}"))
    with pytest.raises(ConfigError, match=r"process 'web' does not declare \(`port`, "
                       r"`extra_ports`\) port 9999 \(valid: @\{web:8080\}, @\{web:8088\}, "
                       r"@\{api:3000\}\)"):
        load_plan(paths.root, "local", {})


def test_the_kind_mirror_of_another_instance_carries_its_name() -> None:
    from neodev.config.instance import KIND_NAME_LIMIT, kind_name
    from neodev.config.loader import load_plan
    from tests.constants import REPO_ROOT

    env = {"POSTGRES_PASSWORD": "pw", "GRAFANA_ADMIN_PASSWORD": "pw", "JWT_SECRET": "x" * 32}
    first = load_plan(REPO_ROOT, "staging", env)
    other = load_plan(REPO_ROOT, "staging", env, name_instance=lambda names: "feature-x")
    assert first.cluster and first.cluster.cluster_name == "neodev-staging"
    assert other.cluster and other.cluster.cluster_name == "neodev-staging-feature-x"
    assert other.project == "feature-x"
    long = kind_name("f" * 48, "neotool", "staging")
    assert len(long) <= KIND_NAME_LIMIT and long != kind_name("f" * 47 + "g", "neotool", "staging")
    assert kind_name("neotool", "neotool", "prod") == "neodev-prod"


def test_doctor_previews_the_block_a_later_checkout_would_get_without_recording_it(
        tmp_path: Path) -> None:
    from neodev.instances.blocks import preview_ports

    env = {"NEODEV_STATE_HOME": str(tmp_path / "state")}
    first, second = _workspace(tmp_path / "main"), _workspace(tmp_path / "feature")
    resolve_plan(first, "local", env)
    plan = resolve_plan(second, "local", env)
    previewed = preview_ports(second, plan, lambda port: True, env)
    assert previewed.port_block == 20000 and previewed.processes["web"].port == 20001
    recorded = read_instance(second)
    assert recorded is not None and recorded.port_block is None  # nothing recorded
    assert preview_ports(first, resolve_plan(first, "local", env), lambda p: True, env) \
        .processes["web"].port == 8080


def test_the_dashboard_takes_the_global_instance_option() -> None:
    from neodev.entry import dashboard_options

    assert dashboard_options(["--instance", "feature-x"]) == ("local", "feature-x")
    assert dashboard_options(["--instance=b", "-p", "staging"]) == ("staging", "b")
    assert dashboard_options(["--instance", "b", "status"]) is None  # a command: the CLI


async def test_another_instance_s_kind_mirror_serves_its_ingress_on_its_own_block(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two instances' mirrors would both want host ports 80/443: the one of an instance with a
    block serves its ingress on the block's last two ports, in the kind config and in the
    plan the daemon's cluster job hands to the operation."""
    from neodev.cluster.kindconfig import kind_config
    from neodev.config.loader import load_plan
    from neodev.config.model import EnvironmentPlan
    from neodev.config.portmap import apply_port_block
    from neodev.daemon.jobs import Jobs
    from neodev.engine.events import EventBus
    from neodev.protocol import ClusterReport
    from tests.constants import REPO_ROOT

    env = {"POSTGRES_PASSWORD": "pw", "GRAFANA_ADMIN_PASSWORD": "pw", "JWT_SECRET": "x" * 32}
    first = load_plan(REPO_ROOT, "staging", env)
    assert first.cluster and (first.cluster.ingress_http_port,
                              first.cluster.ingress_https_port) == (80, 443)
    other = apply_port_block(load_plan(REPO_ROOT, "staging", env), 20100)
    assert other.cluster and (other.cluster.ingress_http_port,
                              other.cluster.ingress_https_port) == (20198, 20199)
    mapped = kind_config(other.cluster)["nodes"][0]["extraPortMappings"]
    assert [m["hostPort"] for m in mapped] == [20198, 20199]
    assert 20198 not in other.port_map.values() and 20199 not in other.port_map.values()

    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    handed: list[tuple[int, int]] = []

    def up(plan: EnvironmentPlan, *_: object) -> ClusterReport:
        assert plan.cluster is not None
        handed.append((plan.cluster.ingress_http_port, plan.cluster.ingress_https_port))
        return ClusterReport(profile=plan.profile, cluster_name=plan.cluster.cluster_name,
                             context=f"kind-{plan.cluster.cluster_name}", exists=True)

    paths = WorkspacePaths(REPO_ROOT)
    for block, expected in ((20100, (20198, 20199)), (None, (80, 443))):
        jobs = Jobs(paths, EventBus("test"), wall=lambda: 0.0, actions={"up": up},
                    instance="feature-x", port_block=block)
        job = jobs.submit_cluster("up", "staging")
        ended = [record async for record in jobs.follow(job.id)][-1]
        assert ended.state == "succeeded", ended.error
        assert handed[-1] == expected

"""Profile loading: a valid profile becomes the expected plan; each error class has its message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from neodev.config.loader import available_profiles, load_plan, plan_for_display
from neodev.config.model import MASK, DependencyCondition, Probe, RestartPolicy
from neodev.errors import ConfigError

WS = Path(__file__).resolve().parent.parent / "fixtures" / "config" / "ws"


def _error(profile: str, environ: dict[str, str] | None = None, ws: Path = WS) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_plan(ws, profile, environ or {})
    return info.value


def test_valid_profile_loads_into_the_expected_plan() -> None:
    plan = load_plan(WS, "good", {})
    assert plan.profile == "good"
    assert plan.project == "fixture"
    assert plan.network == "fixture_default"
    assert plan.profile_file == WS.resolve() / "profiles" / "good.toml"
    assert plan.compose_files == (WS.resolve() / "compose" / "stack.yml",)
    assert plan.env_file == WS.resolve() / "dev.env"
    assert plan.volumes == ("fixture_db-data",)
    assert list(plan.units) == ["db", "cache", "api", "worker"]
    assert plan.warnings == ()

    db = plan.containers["db"]
    assert db.image == "postgres:18-alpine"
    assert db.image_variable == "FIXTURE_DB_IMAGE"
    assert db.environment == {"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "from-dev-env-pw",
                              "POSTGRES_DB": "app"}
    assert db.readiness == Probe(kind="docker")
    assert db.restart is RestartPolicy.ALWAYS  # unless-stopped
    assert db.stop_grace == 30.0
    assert db.healthcheck is not None
    assert db.healthcheck.test == ("CMD-SHELL", "pg_isready -h 127.0.0.1 -U ${POSTGRES_USER}")
    assert (db.healthcheck.interval, db.healthcheck.timeout, db.healthcheck.retries,
            db.healthcheck.start_period) == (2.0, 90.0, 5, 0.5)
    assert [(v.type, v.source, v.target, v.read_only) for v in db.volumes] == [
        ("volume", "fixture_db-data", "/var/lib/postgresql", False),
        ("bind", str(WS.resolve() / "compose" / "init"), "/docker-entrypoint-initdb.d", True)]

    cache = plan.containers["cache"]
    assert cache.command == ("redis-server", "--save", "")
    assert cache.ports[0].host_port == 16379 and cache.ports[0].host_ip == "127.0.0.1"
    assert cache.restart is RestartPolicy.ALWAYS  # profile override
    assert cache.readiness == Probe(kind="tcp", port=16379)
    assert cache.depends_on[0].service == "db"
    assert cache.depends_on[0].condition is DependencyCondition.HEALTHY

    api = plan.processes["api"]
    assert api.cwd == WS.resolve() / "app" / "api"
    assert api.command == ("python", "-m", "http.server", "18080")
    assert api.build == ("python", "-m", "compileall", ".")
    assert api.env["DATABASE_URL"] == (
        "postgresql://app:from-dev-env-pw@127.0.0.1:@{db:5432}/app")
    assert api.env["DEBUG"] == "true"
    assert api.env["GREETING"] == "hello app"      # inherited from dev.env
    assert api.readiness == Probe(kind="http", url="http://127.0.0.1:18080/", start_period=30)
    assert api.restart is RestartPolicy.ON_FAILURE
    assert {d.service: d.condition for d in api.depends_on} == {
        "db": DependencyCondition.HEALTHY, "cache": DependencyCondition.STARTED}

    worker = plan.processes["worker"]
    assert worker.command[:2] == ("python", "-c")
    assert worker.readiness == Probe(kind="log", pattern="^ready$")
    assert worker.reload == "none"
    assert worker.restart is RestartPolicy.NO


def test_process_environment_overrides_env_file_and_image_variable() -> None:
    plan = load_plan(WS, "good", {"DB_PASSWORD": "from-process", "FIXTURE_DB_IMAGE": "pg:local",
                                  "UNRELATED_API_KEY": "must-not-appear"})
    assert plan.containers["db"].environment["POSTGRES_PASSWORD"] == "from-process"
    assert plan.containers["db"].image == "pg:local"
    assert "UNRELATED_API_KEY" not in plan.variables  # only variables the config uses or files set


def test_profile_given_as_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(WS)
    plan = load_plan(tmp_path, "profiles/good.toml", {})
    assert plan.profile == "good"


def test_available_profiles() -> None:
    names = available_profiles(WS)
    assert "good" in names and "cycle" in names
    assert names == sorted(names)


def test_unknown_profile_lists_the_available_ones() -> None:
    err = _error("goood")
    assert "unknown profile 'goood' (did you mean 'good'?)" in err.message
    assert "available: bad_literal, bad_probe" in err.message


def test_toml_syntax_error_names_the_line() -> None:
    err = _error("syntax_error")
    assert err.line == 6
    assert err.file is not None and err.file.endswith("syntax_error.toml")
    assert "syntax_error.toml:6: TOML syntax error: " in err.message


def test_unknown_key_has_did_you_mean_and_valid_keys() -> None:
    err = _error("unknown_key")
    assert err.key == "processes.api.comand"
    assert err.line == 7
    assert "unknown key 'comand' (did you mean 'command'?)" in err.message
    assert "valid keys here: cwd, command, port" in err.message


def test_bad_type_names_key_value_and_what_is_valid() -> None:
    err = _error("bad_type")
    assert err.key == "processes.api.port"
    assert err.line == 8
    assert "invalid value 'eighty'" in err.message
    assert "valid integer" in err.message


def test_bad_choice_suggests_the_valid_one() -> None:
    err = _error("bad_literal")
    assert err.key == "processes.api.reload"
    assert "invalid value 'restat' (did you mean 'restart'?): Input should be 'restart' or " \
           "'none'" in err.message


def test_probe_needs_exactly_one_kind() -> None:
    err = _error("bad_probe")
    assert err.key == "processes.api.readiness"
    assert "exactly one of http, tcp, exec, log (got http, tcp)" in err.message


def test_missing_required_variable() -> None:
    err = _error("missing_variable")
    assert err.key == "processes.api.env.API_TOKEN"
    assert err.line == 8
    assert "required variable API_TOKEN is not set: set API_TOKEN in dev.env" in err.message


def test_missing_required_variable_in_compose_file(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(WS, ws)
    (ws / "dev.env").write_text("APP_ROOT=./app\n")
    err = _error("good", ws=ws)
    assert err.file == str(ws / "compose" / "stack.yml")
    assert err.line == 7
    assert err.key == "services.db.environment.POSTGRES_PASSWORD"
    assert "required variable DB_PASSWORD is not set: set DB_PASSWORD in dev.env" in err.message


def test_dependency_cycle_shows_the_path() -> None:
    err = _error("cycle")
    assert "dependency cycle: api -> worker -> api" in err.message
    assert err.key == "processes.worker.depends_on"


def test_unknown_dependency_lists_units_and_suggests() -> None:
    err = _error("unknown_dependency")
    assert err.key == "processes.api.depends_on"
    assert "'api' depends on unknown unit 'dbb' (did you mean 'db'?)" in err.message
    assert "(units of this profile: api, cache, db)" in err.message


def test_healthy_condition_needs_a_probe() -> None:
    err = _error("healthy_without_probe")
    assert "'worker' waits for 'api' to be healthy, but 'api' has no healthcheck" in err.message


def test_port_reference_must_name_a_published_port() -> None:
    err = _error("bad_reference")
    assert err.key == "processes.api.env.DB_PORT"
    assert "container 'db' does not publish port 5433 (valid: @{db:5432}, @{cache:6379})" \
        in err.message


def test_duplicate_host_port() -> None:
    err = _error("duplicate_port")
    assert "host port 15432/tcp of 'api' is already used by 'db'" in err.message


def test_override_of_unknown_service() -> None:
    err = _error("unknown_service_override")
    assert "overrides unknown compose service 'dbb' (did you mean 'db'?)" in err.message


def test_display_masks_secrets_everywhere() -> None:
    plan = load_plan(WS, "good", {})
    shown = plan_for_display(plan)
    text = json.dumps(shown)
    assert "from-dev-env-pw" not in text
    assert shown["containers"]["db"]["environment"]["POSTGRES_PASSWORD"] == MASK
    assert shown["variables"]["DB_PASSWORD"] == MASK
    assert shown["processes"]["api"]["env"]["DATABASE_URL"] == (
        f"postgresql://app:{MASK}@127.0.0.1:@{{db:5432}}/app")
    assert shown["containers"]["db"]["image"] == "postgres:18-alpine"
    # the plan itself keeps the real values
    assert plan.containers["db"].environment["POSTGRES_PASSWORD"] == "from-dev-env-pw"


def test_display_masks_url_passwords_and_embedded_secret_values(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(WS, ws)
    profile = (ws / "profiles" / "good.toml").read_text().replace(
        'DEBUG = true', 'DEBUG = true, OTHER_URL = "redis://u:hunter22@h/0", '
                        'ARGS = "--token=${DB_PASSWORD}"')
    (ws / "profiles" / "good.toml").write_text(profile)
    shown = plan_for_display(load_plan(ws, "good", {}))
    env = shown["processes"]["api"]["env"]
    assert env["OTHER_URL"] == f"redis://u:{MASK}@h/0"
    assert env["ARGS"] == f"--token={MASK}"


def _workspace_with(tmp_path: Path, replace: str, by: str) -> Path:
    """A copy of the fixture workspace with one piece of good.toml replaced."""
    ws = tmp_path / "ws"
    shutil.copytree(WS, ws)
    profile = ws / "profiles" / "good.toml"
    text = profile.read_text()
    assert replace in text
    profile.write_text(text.replace(replace, by))
    return ws


def test_an_empty_profile_is_an_error(tmp_path: Path) -> None:
    ws = _workspace_with(tmp_path, "", "")
    (ws / "profiles" / "good.toml").write_text("# nothing yet\n")
    err = _error("good", ws=ws)
    assert err.file == str(ws / "profiles" / "good.toml")
    assert "the profile defines nothing to run" in err.message


def test_a_thousand_unit_dependency_cycle_is_reported(tmp_path: Path) -> None:
    chain = "".join(f'[processes.p{i}]\ncwd = "."\ncommand = "true"\n'
                    f'depends_on = {{ p{(i + 1) % 1000} = "started" }}\n' for i in range(1000))
    ws = _workspace_with(tmp_path, "[processes.api]", chain + "[processes.api]")
    err = _error("good", ws=ws)
    assert "dependency cycle: p0 -> p1 -> p2" in err.message
    assert err.key == "processes.p999.depends_on"


def test_invalid_utf8_in_a_profile_names_the_file_and_line(tmp_path: Path) -> None:
    ws = _workspace_with(tmp_path, "", "")
    profile = ws / "profiles" / "good.toml"
    profile.write_bytes(profile.read_bytes().replace(b'name = "fixture"',
                                                     b'name = "fix\xe9ture"'))
    err = _error("good", ws=ws)
    assert err.file == str(profile)
    assert err.line == 2
    assert "not valid UTF-8: byte 0xe9" in err.message


@pytest.mark.parametrize(("replace", "by", "key", "needle"), [
    ('watch = ["**/*.py"]', 'watch = ["src/[z-a]"]', "processes.api.watch[0]",
     "invalid glob"),
    ('watch = ["**/*.py"]', 'watch = ["../elsewhere/**"]', "processes.api.watch[0]", "'..'"),
    ('DEBUG = true', 'DEBUG = true, "A=B" = "x"', "processes.api.env.A=B", "has no '='"),
    ('DEBUG = true', 'DEBUG = true, "A[x]" = "${NOPE:?set NOPE}"', "processes.api.env.A[x]",
     "required variable NOPE"),
])
def test_profile_values_that_could_never_work(tmp_path: Path, replace: str, by: str, key: str,
                                              needle: str) -> None:
    err = _error("good", ws=_workspace_with(tmp_path, replace, by))
    assert err.key == key
    assert needle in err.message


def test_working_directories_the_os_cannot_even_look_up(tmp_path: Path) -> None:
    for cwd in ("~no-such-user-here/api", "x" * 5000):
        ws = _workspace_with(tmp_path / cwd[:8], 'cwd = "../app/api"', f'cwd = "{cwd}"')
        plan = load_plan(ws, "good", {})
        assert any("working directory" in w for w in plan.warnings)

"""Generated secrets: written to .neodev/secrets.env (0600) only, never to .env."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from neodev.config.envfile import read_env_file
from neodev.config.loader import load_plan
from neodev.configstate import ensure_secrets, prepare_secrets
from neodev.errors import ConfigError
from neodev.paths import WorkspacePaths

WS = Path(__file__).resolve().parent.parent / "fixtures" / "config" / "ws"


def test_generates_missing_secrets_into_a_private_file(tmp_path: Path) -> None:
    paths = WorkspacePaths(tmp_path)
    dotenv = tmp_path / ".env"
    dotenv.write_text("GIVEN=from-dotenv\n")
    before = dotenv.read_bytes()

    values, generated = ensure_secrets(paths, ["GIVEN", "NEW_PASSWORD", "EMPTY_TOKEN"],
                                       {"GIVEN": "from-dotenv", "EMPTY_TOKEN": ""})
    assert generated == ["NEW_PASSWORD", "EMPTY_TOKEN"]
    assert values["GIVEN"] == "from-dotenv"
    assert len(values["NEW_PASSWORD"]) >= 24 and values["NEW_PASSWORD"] != values["EMPTY_TOKEN"]
    assert stat.S_IMODE(paths.secrets_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.state_dir.stat().st_mode) == 0o700
    assert read_env_file(paths.secrets_file) == {"NEW_PASSWORD": values["NEW_PASSWORD"],
                                                 "EMPTY_TOKEN": values["EMPTY_TOKEN"]}
    assert dotenv.read_bytes() == before

    # A second call reuses the stored values and writes nothing new.
    again, generated_again = ensure_secrets(paths, ["NEW_PASSWORD"], {})
    assert generated_again == []
    assert again["NEW_PASSWORD"] == values["NEW_PASSWORD"]


def test_existing_loose_file_is_tightened(tmp_path: Path) -> None:
    paths = WorkspacePaths(tmp_path)
    paths.ensure_state_dir()
    paths.secrets_file.write_text("OLD=1\n")
    paths.secrets_file.chmod(0o644)
    ensure_secrets(paths, ["NEW"], {})
    assert stat.S_IMODE(paths.secrets_file.stat().st_mode) == 0o600
    assert set(read_env_file(paths.secrets_file)) == {"OLD", "NEW"}


def test_prepare_then_load_uses_the_generated_value(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(WS, ws)
    (ws / "dev.env").write_text("APP_ROOT=./app\n")  # no DB_PASSWORD anywhere
    generated, where = prepare_secrets(ws, "good", {})
    assert generated == ["DB_PASSWORD"]
    assert where == ws.resolve() / ".neodev" / "secrets.env"
    assert (ws / "dev.env").read_text() == "APP_ROOT=./app\n"
    value = read_env_file(where)["DB_PASSWORD"]
    plan = load_plan(ws, "good", {})
    assert plan.containers["db"].environment["POSTGRES_PASSWORD"] == value
    # .env and the process environment still win over the generated value
    plan = load_plan(ws, "good", {"DB_PASSWORD": "mine"})
    assert plan.containers["db"].environment["POSTGRES_PASSWORD"] == "mine"
    assert prepare_secrets(ws, "good", {})[0] == []


@pytest.mark.parametrize(("replace", "by", "key", "needle"), [
    ('secrets = ["DB_PASSWORD"]', 'secrets = ["1BAD"]', "project.secrets",
     "secret name '1BAD' is not a valid variable name"),
    ('secrets = ["DB_PASSWORD"]', 'secrets = "DB_PASSWORD"', "project.secrets",
     "valid list"),
    ('[project]\nname = "fixture"\ncompose = ["../compose/stack.yml"]\nenv_file = "../dev.env"\n'
     'secrets = ["DB_PASSWORD"]', "project = [[1]]", "project", "invalid value"),
])
def test_prepare_reports_a_broken_profile_like_load_does(tmp_path: Path, replace: str, by: str,
                                                        key: str, needle: str) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(WS, ws)
    profile = ws / "profiles" / "good.toml"
    profile.write_text(profile.read_text().replace(replace, by))
    with pytest.raises(ConfigError) as info:
        prepare_secrets(ws, "good", {})
    assert info.value.file == str(profile)
    assert info.value.key == key
    assert needle in info.value.message


def test_prepare_refuses_an_unreadable_profile(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(WS, ws)
    profile = ws / "profiles" / "good.toml"
    profile.write_bytes(b"\xff" + profile.read_bytes())
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        prepare_secrets(ws, "good", {})

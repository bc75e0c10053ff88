"""The agent server's last guard (`neodev.mcp.masking.Masker`), without a server or a daemon:
the plan's secret values are masked anywhere in text and in nested data, URL passwords always,
and values learnt once stay masked when the plan stops loading.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from neodev.mcp.masking import Masker
from neodev.mcp.scope import Scope
from neodev.paths import WorkspacePaths

FROM_ENV_FILE = "envfile-secret-5d2c"
FROM_PROFILE = "profile-token-8e1a"


def workspace(root: Path, *, broken: bool = False) -> Scope:
    (root / "profiles").mkdir(exist_ok=True)
    (root / "profiles" / "local.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "masking"
        env_file = "../.env"

        [processes.app]
        cwd = "."
        command = ["true"]
        env = {{ DB_PASSWORD = "${{DB_PASSWORD}}", API_TOKEN = "{FROM_PROFILE}", HI = "hello" }}
        """) + ("[processes.app.nonsense]\n" if broken else ""))
    (root / ".env").write_text(f"DB_PASSWORD={FROM_ENV_FILE}\n")
    return Scope(WorkspacePaths(root), "local")


def test_the_plans_secret_values_are_masked_in_text_and_nested_data(tmp_path: Path) -> None:
    masker = Masker(workspace(tmp_path), environ={})
    masker.learn()
    assert masker.unreadable is None and masker.known == 2
    text = masker.text(f"connect with {FROM_ENV_FILE} and {FROM_PROFILE}, say hello")
    assert FROM_ENV_FILE not in text and FROM_PROFILE not in text and "say hello" in text
    data = masker.data({"units": [{"reason": f"token={FROM_PROFILE}", "restarts": 2,
                                   "ok": True, "detail": None}]})
    assert data == {"units": [{"reason": "token=********", "restarts": 2, "ok": True,
                               "detail": None}]}


def test_url_passwords_are_masked_and_learnt_values_kept_when_the_plan_does_not_load(
        tmp_path: Path) -> None:
    scope = workspace(tmp_path)
    masker = Masker(scope, environ={})
    assert "s3cr3t" not in masker.text("postgres://app:s3cr3t@db/x")  # knowing no plan yet
    masker.learn()
    workspace(tmp_path, broken=True)  # the profile stops loading
    masker.learn()
    assert masker.unreadable == "Configuration error"
    assert FROM_ENV_FILE not in masker.text(f"still {FROM_ENV_FILE}")

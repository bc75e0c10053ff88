"""Every value that came from a secret source is masked, whatever its name, wherever it shows.

Secret sources: the profile's `[project] secrets`, the generated `.neodev/secrets.env`, keys
that name a credential (not only `*PASSWORD|SECRET|TOKEN|KEY`: `DB_PASS`, `API_CREDENTIALS`,
`AUTH`), and a URL's password in any variable. Short values down to MIN_SECRET_CHARS, and a
secret cut by a line bound leaves no beginning behind. Through the real loader, and through the
daemon's API (scripted runners) for what a unit prints and what its details show.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from neodev.client import calls
from neodev.config.display import (
    MIN_SECRET_CHARS,
    mask_line,
    mask_text,
    plan_for_display,
    secret_values,
)
from neodev.config.loader import load_plan
from neodev.config.model import MASK, EnvironmentPlan, is_secret_key
from neodev.engine.lines import MAX_LINE_CHARS, LineSplitter
from neodev.protocol import encode
from tests.api.scripted import scripted
from tests.supervisor.vclock import virtual_time

PROFILE = """\
[project]
name = "vault"
env_file = "../.env"
secrets = ["DB_CONN", "SHORT_SECRET", "TINY"]

[processes.api]
cwd = ".."
command = ["./run", "--queue", "${QUEUE_URL}"]
env = { DB_CONN = "${DB_CONN}", DB_PASS = "${DB_PASS}", API_CREDENTIALS = "${API_CREDENTIALS}", \
AUTH = "${AUTH}", QUEUE_URL = "${QUEUE_URL}", SHORT = "${SHORT_SECRET}", TINY_COPY = "${TINY}", \
ANONYMOUS = "${GF_AUTH_ANONYMOUS_ENABLED}" }
"""
DOTENV = """\
DB_PASS=dbpass-4711
API_CREDENTIALS=svc:creds-0815
AUTH="Bearer auth-token-55"
QUEUE_URL=amqp://queue:s%40lt-pw9@mq.local/vhost
GF_AUTH_ANONYMOUS_ENABLED=true
DB_CONN="host=db user=app conn-secret-77"
SHORT_SECRET=pw7
TINY=q1
"""
GENERATED = "generated-seed-abc123"
SECRETS = ["dbpass-4711", "svc:creds-0815", "Bearer auth-token-55", "s%40lt-pw9", "s@lt-pw9",
           "host=db user=app conn-secret-77", "pw7", GENERATED]
"""Every secret value of the workspace that masking by value covers."""


@pytest.fixture
def plan(tmp_path: Path) -> EnvironmentPlan:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "local.toml").write_text(PROFILE)
    (tmp_path / ".env").write_text(DOTENV)
    (tmp_path / ".neodev").mkdir(mode=0o700)
    (tmp_path / ".neodev" / "secrets.env").write_text(f"SESSION_SEED={GENERATED}\n")
    return load_plan(tmp_path, "local", environ={})


@pytest.mark.parametrize(("key", "secret"), [
    ("DB_PASSWORD", True), ("DB_PASS", True), ("SMTP_PASSWD", True), ("GPG_PASSPHRASE", True),
    ("API_CREDENTIALS", True), ("GITHUB_CREDS", True), ("AUTH", True), ("basic_auth", True),
    ("HTTP_AUTHORIZATION", True), ("JWT_SECRET", True), ("SLACK_TOKEN", True),
    ("AWS_SECRET_ACCESS_KEY", True),
    ("GF_AUTH_ANONYMOUS_ENABLED", False), ("BYPASS_CACHE", False), ("AUTHOR", False),
    ("OAUTH_ENABLED", False), ("PWD", False), ("COMPASS", False), ("PORT", False)])
def test_keys_that_name_a_credential(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


def test_every_value_from_a_secret_source_is_a_secret_value(plan: EnvironmentPlan) -> None:
    assert set(plan.secret_names) == {"DB_CONN", "SHORT_SECRET", "TINY", "SESSION_SEED"}
    found = secret_values(plan)
    assert set(SECRETS) <= set(found)
    assert "true" not in found  # GF_AUTH_ANONYMOUS_ENABLED is a setting, not a secret
    assert "q1" not in found  # below the floor: masked by its place only (see below)
    assert all(len(value) >= MIN_SECRET_CHARS for value in found)
    assert [len(v) for v in found] == sorted((len(v) for v in found), reverse=True)


def test_the_configuration_shows_no_secret_value(plan: EnvironmentPlan) -> None:
    shown = plan_for_display(plan)
    text = json.dumps(shown)
    for secret in [*SECRETS, "q1"]:
        assert json.dumps(secret)[1:-1] not in text, secret
    env = shown["processes"]["api"]["env"]
    assert env["ANONYMOUS"] == "true"
    assert env["SHORT"] == env["TINY_COPY"] == env["DB_CONN"] == MASK  # whole values
    assert env["QUEUE_URL"] == f"amqp://queue:{MASK}@mq.local/vhost"
    assert shown["variables"]["TINY"] == shown["variables"]["SESSION_SEED"] == MASK


def test_output_lines_are_masked_by_value(plan: EnvironmentPlan) -> None:
    secrets = secret_values(plan)
    lines = {
        "login with dbpass-4711 failed": f"login with {MASK} failed",
        "creds=svc:creds-0815;": f"creds={MASK};",
        "header Authorization: Bearer auth-token-55": f"header Authorization: {MASK}",
        "queue password s@lt-pw9 rejected": f"queue password {MASK} rejected",
        "DSN host=db user=app conn-secret-77 ok": f"DSN {MASK} ok",
        f"seed {GENERATED}.": f"seed {MASK}.",
        # a short value where it stands alone, not inside longer words
        "password was pw7, retry": f"password was {MASK}, retry",
        "pw7x and xpw7 and pw77 stay": "pw7x and xpw7 and pw77 stay",
        "anonymous access: true": "anonymous access: true",
    }
    for line, masked in lines.items():
        assert mask_text(line, secrets) == masked
        assert mask_line(line, secrets, MAX_LINE_CHARS) == masked


def test_a_secret_cut_by_the_line_bound_leaves_no_beginning(plan: EnvironmentPlan) -> None:
    secrets = secret_values(plan)
    # Cut by the log store's bound: masked whole first, then cut.
    line = "x" * 40 + " dbpass-4711 " + "y" * 100
    for limit in range(41, 120):
        kept = mask_line(line, secrets, limit)
        assert len(kept) <= limit and "dbpa" not in kept and "db" not in kept[30:], kept
    # Cut by a driver's splitter before any masking: the beginning left at the cut is masked.
    [cut] = LineSplitter(limit=22).feed(b"connecting with dbpass-4711 to the main database\n")
    assert cut.startswith("connecting with dbpass …")  # the splitter cut inside the secret
    masked = mask_line(cut, secrets, MAX_LINE_CHARS)
    assert masked.startswith(f"connecting with {MASK} … [neodev: ")
    assert masked.endswith(" more bytes of this line not kept]")
    # A URL's password cut before its @ (by the splitter, or here).
    [cut] = LineSplitter(limit=30).feed(b"queue at amqp://queue:s%40lt-pw9@mq.local/vhost\n")
    assert mask_line(cut, secrets, MAX_LINE_CHARS).startswith(f"queue at amqp://queue:{MASK} …")
    assert "s%4" not in mask_line("to amqp://u:s%40lt-pw9@mq", [], 24)


def test_random_cuts_never_leave_part_of_a_secret_and_fit_the_bound() -> None:
    rng = random.Random(20)
    secrets = sorted(["hunter2-long", "tok_9f8e7d6c", "pw7"], key=len, reverse=True)
    words = ["GET", "/api", "200", "user", "=", "ok", "hunter", "tok", "pw", " ", ":"]
    for _ in range(3000):
        parts = [rng.choice([*words, *secrets]) for _ in range(rng.randint(1, 30))]
        line = " ".join(parts)
        limit = rng.randint(60, 200)
        result = mask_line(line, secrets, limit)
        assert len(result) <= limit, (line, limit, result)
        kept = result.split(" … [neodev: ")[0]
        for secret in secrets:
            assert secret not in kept.replace(MASK, "\0")
            if result != mask_text(line, secrets):  # it was cut: no beginning at its end
                assert not any(kept.endswith(secret[:n]) for n in range(2, len(secret)))


@virtual_time
async def test_the_daemon_masks_what_a_unit_prints_and_shows(plan: EnvironmentPlan,
                                                             tmp_path: Path) -> None:
    async with scripted(tmp_path, plan) as s:
        for line in ("auth: Bearer auth-token-55", "pw7 is the password",
                     "seed " + GENERATED, "queue s@lt-pw9 " + "z" * MAX_LINE_CHARS):
            s.env.logs.append("api", line, "stdout", 1.0)
        # a line the process driver's splitter cut inside a secret
        [cut] = LineSplitter(limit=22).feed(b"connecting with dbpass-4711 to the database\n")
        s.env.logs.append("api", cut, "stdout", 2.0)
        page = await s.client.call(calls.logs(["api"], limit=50))
        details = await s.client.call(calls.unit("api"))
        text = json.dumps(encode(page)) + json.dumps(encode(details))
        for secret in [*SECRETS, "dbpass"]:
            assert json.dumps(secret)[1:-1] not in text, secret
        assert all(len(line.line) <= MAX_LINE_CHARS for line in page.lines)


def test_the_readme_states_the_floor() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"{MIN_SECRET_CHARS} characters" in readme
    assert "copy its DSN" in readme and "deliberate exception" in readme

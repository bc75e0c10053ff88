""".env parsing as compose does it, and the variable layers (secrets < .env < process env)."""

from __future__ import annotations

from pathlib import Path

import pytest

from neodev.config.envfile import layered_environment, parse_env_text, read_env_file
from neodev.errors import ConfigError


def test_env_file_syntax() -> None:
    text = """
# a comment
   # an indented comment

PLAIN=value
SPACED =  padded value\t\t
export EXPORTED=yes
INLINE=abc # a comment
HASH=abc#not-a-comment
SINGLE='literal ${PLAIN} \\n # kept'
DOUBLE="line1\\nline2 \\"q\\" ${PLAIN}"
ESCAPED_DOLLAR="cost \\$5"
EMPTY=
EMPTY_QUOTED=""
REF=${PLAIN:-x}-${MISSING:-dflt}
MULTI="first
second"
DOTTED.KEY-NAME=ok
"""
    env = parse_env_text(text, file=".env")
    assert env == {
        "PLAIN": "value", "SPACED": "padded value", "EXPORTED": "yes", "INLINE": "abc",
        "HASH": "abc#not-a-comment", "SINGLE": "literal ${PLAIN} \\n # kept",
        "DOUBLE": 'line1\nline2 "q" value', "ESCAPED_DOLLAR": "cost $5", "EMPTY": "",
        "EMPTY_QUOTED": "", "REF": "value-dflt", "MULTI": "first\nsecond",
        "DOTTED.KEY-NAME": "ok"}


def test_interpolation_sees_the_process_environment_first() -> None:
    env = parse_env_text("A=file\nB=${A}\n", file=".env", lookup={"A": "process"})
    assert env == {"A": "file", "B": "process"}


@pytest.mark.parametrize(("text", "line", "needle"), [
    ("OK=1\nNOT A PAIR\n", 2, "expected KEY=VALUE, got 'NOT A PAIR'"),
    ("OK=1\n\n1BAD=x\n", 3, "'1BAD' is not a valid variable name"),
    ('A="open\nB=2\n', 1, "quote opened here is never closed"),
    ("A='x' trailing\n", 1, "unexpected text 'trailing'"),
    ("A=${\n", 1, "invalid interpolation"),
])
def test_bad_lines_name_file_and_line(text: str, line: int, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_env_text(text, file="/ws/.env")
    assert info.value.line == line
    assert info.value.message.startswith(f"/ws/.env:{line}")
    assert needle in info.value.message


def test_missing_env_file_is_empty(tmp_path: Path) -> None:
    assert read_env_file(tmp_path / "absent.env") == {}


def test_layers(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.env"
    dotenv = tmp_path / ".env"
    secrets.write_text("ONLY_SECRET=s\nSHARED=from-secrets\nALL=from-secrets\n")
    dotenv.write_text("SHARED=from-dotenv\nALL=from-dotenv\nDOTENV_ONLY=d\n")
    merged, file_keys = layered_environment({"ALL": "from-process"}, dotenv, secrets)
    assert merged == {"ONLY_SECRET": "s", "SHARED": "from-dotenv", "ALL": "from-process",
                      "DOTENV_ONLY": "d"}
    assert file_keys == {"ONLY_SECRET", "SHARED", "ALL", "DOTENV_ONLY"}

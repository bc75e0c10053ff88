"""The limits on configuration input: each refused with a ConfigError naming file, limit, key.

The same inputs also run through the real CLI in `test_config_fuzz.py`; these tests pin the
exact messages, lines and keys, and that ordinary files (anchors, merge keys, long but sane
values) keep working.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from neodev.config.envfile import parse_env_text, read_env_file
from neodev.config.interpolate import interpolate, line_for
from neodev.config.limits import (
    MAX_ALIAS_NODES,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_STRING_CHARS,
    read_config_text,
)
from neodev.config.profile import read_profile_file as read_profile
from neodev.config.yamlsrc import load_yaml
from neodev.errors import ConfigError


def _fails(call: object, *args: object) -> ConfigError:
    assert callable(call)
    with pytest.raises(ConfigError) as info:
        call(*args)
    return info.value


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


# --- reading --------------------------------------------------------------------------------

def test_a_file_of_exactly_the_limit_is_read(tmp_path: Path) -> None:
    path = _write(tmp_path, "ok.toml", "#" * (MAX_FILE_BYTES - 1) + "\n")
    assert len(read_config_text(path, "profile")) == MAX_FILE_BYTES


def test_a_larger_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = _write(tmp_path, "big.toml", b"#" * (MAX_FILE_BYTES + 1))
    err = _fails(read_config_text, path, "profile")
    assert err.file == str(path)
    assert "the profile is larger than 1 MiB" in err.message
    assert "MAX_FILE_BYTES" in err.message


def test_invalid_utf8_names_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.toml", b'[project]\nname = "n\xffx"\n')
    err = _fails(read_config_text, path, "profile")
    assert (err.file, err.line) == (str(path), 2)
    assert "not valid UTF-8: byte 0xff at column 10" in err.message


def test_nul_bytes_are_refused(tmp_path: Path) -> None:
    err = _fails(read_config_text, _write(tmp_path, ".env", b"A=1\nB=\0\n"), "env file")
    assert err.line == 2
    assert "NUL byte" in err.message


def test_a_fifo_is_refused_instead_of_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / ".env"
    os.mkfifo(fifo)
    err = _fails(read_config_text, fifo, "env file")
    assert "the env file is not a regular file" in err.message


def test_a_directory_and_a_missing_file(tmp_path: Path) -> None:
    assert "not a regular file" in _fails(read_config_text, tmp_path, "profile").message
    missing = _fails(read_config_text, tmp_path / "nope.yml", "compose file")
    assert "cannot read compose file: No such file or directory" in missing.message


def test_a_name_the_os_refuses_is_a_config_error(tmp_path: Path) -> None:
    err = _fails(read_config_text, tmp_path / ("x" * 5000), "env file")
    assert "cannot read env file: File name too long" in err.message
    assert "cannot read" in _fails(read_config_text, tmp_path / "a\0b", "env file").message


# --- YAML -----------------------------------------------------------------------------------

def _yaml(tmp_path: Path, text: str) -> tuple[object, dict[str, int]]:
    return load_yaml(_write(tmp_path, "compose.yml", textwrap.dedent(text)))


def _yaml_fails(tmp_path: Path, text: str | bytes) -> ConfigError:
    path = _write(tmp_path, "compose.yml", text if isinstance(text, bytes) else
                  textwrap.dedent(text))
    return _fails(load_yaml, path)


def test_merge_keys_with_overrides_keep_working(tmp_path: Path) -> None:
    data, lines = _yaml(tmp_path, """
        x-defaults: &defaults
          image: busybox
          restart: always
          environment: {A: "1"}
        services:
          a:
            <<: *defaults
            image: alpine
          b: *defaults
    """)
    assert isinstance(data, dict)
    assert data["services"]["a"] == {"image": "alpine", "restart": "always",
                                     "environment": {"A": "1"}}
    assert data["services"]["b"]["image"] == "busybox"
    assert lines["services.a.image"] == 9  # the override's line, not the anchor's
    assert lines["services.a.restart"] == 4


def test_keys_written_twice_are_still_errors_next_to_a_merge(tmp_path: Path) -> None:
    err = _yaml_fails(tmp_path, """
        x-d: &d {image: a}
        services:
          s:
            <<: *d
            image: b
            image: c
    """)
    assert err.line == 7
    assert "duplicate key 'image'" in err.message


def test_realistic_reuse_of_anchors_is_within_the_alias_limit(tmp_path: Path) -> None:
    defaults = "".join(f"  k{i}: v{i}\n" for i in range(10))
    services = "".join(f"  s{i}:\n    <<: *defaults\n    logging: *logging\n"
                       for i in range(20))
    data, _ = _yaml(tmp_path, "x-defaults: &defaults\n" + defaults
                    + "x-logging: &logging {driver: json-file, options: {max-size: 10m}}\n"
                    + "services:\n" + services)
    assert isinstance(data, dict) and len(data["services"]) == 20


def test_an_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ['a0: &a0 "lol"'] + [
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    err = _yaml_fails(tmp_path, "\n".join(lines) + "\n")
    assert f"aliases expand into more than {MAX_ALIAS_NODES} nodes" in err.message
    assert "MAX_ALIAS_NODES" in err.message
    assert err.key is not None and err.key.startswith("a4")
    assert err.line == 5


def test_long_strings_count_against_the_alias_limit(tmp_path: Path) -> None:
    value = "x" * 60000
    err = _yaml_fails(tmp_path, f"v: &v {value}\nl: [{', '.join(['*v'] * 30)}]\n")
    assert "MAX_ALIAS_NODES" in err.message


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    err = _yaml_fails(tmp_path, "a: &a [*a]\n")
    assert f"nesting deeper than {MAX_DEPTH} levels" in err.message


def test_textual_nesting_is_refused_before_pyyaml_recurses(tmp_path: Path) -> None:
    err = _yaml_fails(tmp_path, "x:\n  y: " + "[" * 5000 + "]" * 5000 + "\n")
    assert (err.line, err.key) == (2, "x.y" + "[0]" * (MAX_DEPTH - 2))
    assert "MAX_DEPTH" in err.message


def test_nesting_up_to_the_limit_is_fine(tmp_path: Path) -> None:
    data, _ = _yaml(tmp_path, "x: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n")
    assert isinstance(data, dict)


def test_a_long_string_and_a_long_key(tmp_path: Path) -> None:
    err = _yaml_fails(tmp_path, "services:\n  a:\n    command: " + "x" * (MAX_STRING_CHARS + 1)
                      + "\n")
    assert (err.key, err.line) == ("services.a.command", 3)
    assert f"string of {MAX_STRING_CHARS + 1} characters is longer than 64 KiB" in err.message
    err = _yaml_fails(tmp_path, "? " + "k" * (MAX_STRING_CHARS + 1) + "\n: 1\n")
    assert "key of" in err.message


@pytest.mark.parametrize(("value", "needle"), [
    ("2001-13-45", "invalid timestamp '2001-13-45': month must be in 1..12"),
    ("!!int abc", "invalid int 'abc'"),
    ("9" * 5000, "invalid int '999"),
    ("!!float x", "invalid float 'x'"),
])
def test_scalars_the_constructor_cannot_build(tmp_path: Path, value: str, needle: str) -> None:
    err = _yaml_fails(tmp_path, f"services:\n  a:\n    x: {value}\n")
    assert (err.key, err.line) == ("services.a.x", 3)
    assert needle in err.message


@pytest.mark.parametrize("key", ["[a, b]", "{a: 1}", "!!set {a: null}"])
def test_complex_keys_are_refused(tmp_path: Path, key: str) -> None:
    err = _yaml_fails(tmp_path, f"services:\n  ? {key}\n  : 1\n")
    assert "mapping keys must be scalars" in err.message
    assert err.line == 2


def test_a_nul_escape_is_refused(tmp_path: Path) -> None:
    err = _yaml_fails(tmp_path, 'a:\n  b: "x\\0y"\n')
    assert err.key == "a.b"
    assert "NUL character" in err.message


# --- TOML -----------------------------------------------------------------------------------

def _toml_fails(tmp_path: Path, text: str) -> ConfigError:
    return _fails(read_profile, _write(tmp_path, "p.toml", text))


def test_deep_inline_tables_are_a_config_error_not_a_recursion_error(tmp_path: Path) -> None:
    err = _toml_fails(tmp_path, "x = " + "{ a = " * 500 + "1" + " }" * 500 + "\n")
    assert err.file == str(tmp_path / "p.toml")
    assert f"nesting deeper than {MAX_DEPTH} levels" in err.message


def test_nesting_tomllib_can_parse_is_still_held_to_the_limit(tmp_path: Path) -> None:
    err = _toml_fails(tmp_path, "[project]\nx = " + "[" * 100 + "]" * 100 + "\n")
    assert err.key == "project.x" + "[0]" * (MAX_DEPTH - 2)
    assert err.line == 2


def test_dotted_headers_deeper_than_the_limit(tmp_path: Path) -> None:
    err = _toml_fails(tmp_path, "[" + ".".join(["a"] * 3000) + "]\n")
    assert err.key is not None and err.key.startswith("a.a.a")
    assert "MAX_DEPTH" in err.message


def test_long_strings_and_keys_in_toml(tmp_path: Path) -> None:
    err = _toml_fails(tmp_path, '[processes.api]\ncommand = "' + "x" * (MAX_STRING_CHARS + 1)
                      + '"\n')
    assert (err.key, err.line) == ("processes.api.command", 2)
    assert "MAX_STRING_CHARS" in err.message
    err = _toml_fails(tmp_path, '[processes.api.env]\n"' + "K" * (MAX_STRING_CHARS + 1)
                      + '" = "v"\n')
    assert err.key == "processes.api.env"
    assert "key of" in err.message


def test_an_integer_python_will_not_convert(tmp_path: Path) -> None:
    err = _toml_fails(tmp_path, "port = " + "9" * 5000 + "\n")
    assert "invalid TOML value: Exceeds the limit (4300 digits)" in err.message


def test_line_numbers_survive_a_line_of_many_spaces(tmp_path: Path) -> None:
    # The header pattern used to rescan runs of spaces (quadratic); the result is the same.
    path = _write(tmp_path, "p.toml", '[ "a' + " " * 50000 + 'b" ]\nx = 1\n[c]\ny = 2\n')
    _, lines = read_profile(path)
    assert lines["c.y"] == 4


def test_line_for_ends_on_keys_holding_brackets_and_dots() -> None:
    lines = {"processes.api.env": 7}
    assert line_for(lines, "processes.api.env.A[x]") == 7
    assert line_for(lines, "processes.api.env." + "x." * 20000 + "y") is None


# --- .env and interpolation -----------------------------------------------------------------

def test_env_values_are_held_to_the_string_limit(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_env_text("A=1\nBIG=" + "x" * (MAX_STRING_CHARS + 1) + "\n", file=".env")
    err = info.value
    assert (err.key, err.line) == ("BIG", 2)
    assert "value of" in err.message


def test_many_env_keys_still_see_each_other(tmp_path: Path) -> None:
    text = "".join(f"K{i}=v{i}\n" for i in range(50000)) + "LAST=${K49999}-${K0}\n"
    env = read_env_file(_write(tmp_path, ".env", text), {"K0": "process"})
    assert env["LAST"] == "v49999-process"
    assert len(env) == 50001


def test_interpolation_output_is_held_to_the_string_limit() -> None:
    with pytest.raises(ConfigError) as info:
        interpolate("${BIG}" * 10000, {"BIG": "x" * 60000})
    assert "value after interpolation of" in info.value.message
    assert "MAX_STRING_CHARS" in info.value.message


def test_interpolation_nesting_is_held_to_the_depth_limit() -> None:
    deep = "${A:-" * (MAX_DEPTH + 1) + "x" + "}" * (MAX_DEPTH + 1)
    with pytest.raises(ConfigError) as info:
        interpolate(deep, {})
    assert "MAX_DEPTH" in info.value.message
    assert len(info.value.message) < 400  # the template is quoted briefly, not whole
    fine = "${A:-" * MAX_DEPTH + "x" + "}" * MAX_DEPTH
    assert interpolate(fine, {}) == "x"

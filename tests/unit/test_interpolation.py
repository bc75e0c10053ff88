"""Compose-Specification interpolation: every operator set / empty / unset, nesting, escapes."""

from __future__ import annotations

import pytest

from neodev.config.interpolate import Where, interpolate, interpolate_tree, top_level_variables
from neodev.errors import ConfigError

ENV = {"SET": "value", "EMPTY": "", "OTHER": "other"}


@pytest.mark.parametrize(("template", "expected"), [
    ("$SET", "value"),
    ("${SET}", "value"),
    ("a${SET}b", "avalueb"),
    ("$SET/x", "value/x"),
    ("$SET_X", ""),             # the name is SET_X, which is unset
    ("${EMPTY}", ""),
    # :-  (unset or empty -> default)
    ("${SET:-d}", "value"), ("${EMPTY:-d}", "d"), ("${UNSET:-d}", "d"),
    # -   (unset only)
    ("${SET-d}", "value"), ("${EMPTY-d}", ""), ("${UNSET-d}", "d"),
    # :+  (set and non-empty -> alternative)
    ("${SET:+alt}", "alt"), ("${EMPTY:+alt}", ""), ("${UNSET:+alt}", ""),
    # +   (set -> alternative)
    ("${SET+alt}", "alt"), ("${EMPTY+alt}", "alt"), ("${UNSET+alt}", ""),
    # ? and :? with a value present
    ("${SET:?msg}", "value"), ("${SET?msg}", "value"), ("${EMPTY?msg}", ""),
    # defaults can hold colons, dashes and spaces
    ("${UNSET:-postgres:18-alpine}", "postgres:18-alpine"),
    ("${UNSET:-two words}", "two words"),
    ("${UNSET:-}", ""),
    # nesting
    ("${UNSET:-${OTHER}}", "other"),
    ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
    ("${UNSET:-pre-${SET}-post}", "pre-value-post"),
    ("${SET:+[${OTHER}]}", "[other]"),
    ("${UNSET:-$OTHER}", "other"),
    # escapes and non-variables
    ("$$", "$"), ("$${SET}", "${SET}"), ("$$SET", "$SET"), ("a$$b", "a$b"),
    ("cost $5", "cost $5"), ("end$", "end$"), ("$ x", "$ x"), ("ready$", "ready$"),
    # port references are not interpolation
    ("127.0.0.1:@{postgres:5432}/${SET}", "127.0.0.1:@{postgres:5432}/value"),
    ("no dollar at all", "no dollar at all"),
    ("}", "}"),
])
def test_interpolation(template: str, expected: str) -> None:
    assert interpolate(template, ENV) == expected


def test_unused_required_inside_default_does_not_fire() -> None:
    assert interpolate("${SET:-${UNSET:?never evaluated}}", ENV) == "value"


@pytest.mark.parametrize(("template", "state"), [
    ("${UNSET:?set it in .env}", "not set"),
    ("${EMPTY:?set it in .env}", "empty"),
    ("${UNSET?set it in .env}", "not set"),
])
def test_required_variable_missing(template: str, state: str) -> None:
    with pytest.raises(ConfigError) as info:
        interpolate(template, ENV, where=Where("compose.yml", "services.db.environment.PW", 7))
    err = info.value
    name = template[2:].split(":")[0].split("?")[0]
    assert f"required variable {name} is {state}: set it in .env" in err.message
    assert err.message.startswith("compose.yml:7, services.db.environment.PW: ")


def test_required_message_can_be_interpolated() -> None:
    with pytest.raises(ConfigError, match="required variable UNSET is not set: see value"):
        interpolate("${UNSET?see $SET}", ENV)


@pytest.mark.parametrize(("template", "why"), [
    ("${", "'${' is not closed"),
    ("${}", "'${}' names no variable"),
    ("${1BAD}", "variable names start with a letter or '_', not '1'"),
    ("${SET", "'${SET' is not closed"),
    ("${SET:-abc", "'${SET:-...' is not closed"),
    ("${UNSET:-${SET}", "'${UNSET:-...' is not closed"),
    ("${SET/foo/bar}", "unsupported operator '/f' after SET"),
    ("${SET:x}", "unsupported operator ':x' after SET"),
    ("${SET^^}", "unsupported operator '^^' after SET"),
    ("${ SET}", "not ' '"),
])
def test_malformed_templates_are_rejected(template: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        interpolate(template, ENV, where=Where("profile.toml", "processes.api.env.X"))
    message = info.value.message
    assert why in message
    assert repr(template) in message
    assert "profile.toml, processes.api.env.X" in message
    assert "$$ for a literal $" in message


def test_malformed_template_rejected_even_when_a_value_is_set() -> None:
    with pytest.raises(ConfigError):
        interpolate("${SET:-${}}", ENV)


def test_unset_variable_warns_and_becomes_empty() -> None:
    warnings: list[str] = []
    assert interpolate("x${UNSET}y", ENV, where=Where("f.yml", "a.b"), warnings=warnings) == "xy"
    assert warnings == ["variable UNSET is not set; using an empty string (in f.yml, a.b)"]
    warnings.clear()
    interpolate("${UNSET:-d}${UNSET-d}${UNSET:+a}", ENV, warnings=warnings)
    assert warnings == []


def test_tree_interpolates_values_not_keys_and_names_the_path() -> None:
    tree = {"services": {"$SET": {"image": "${SET}", "ports": ["${OTHER}", 5], "n": None}}}
    assert interpolate_tree(tree, ENV, file="c.yml") == {
        "services": {"$SET": {"image": "value", "ports": ["other", 5], "n": None}}}
    with pytest.raises(ConfigError) as info:
        interpolate_tree({"a": {"b": ["ok", "${X"]}}, ENV, file="c.yml", lines={"a.b[1]": 9})
    assert info.value.file == "c.yml"
    assert info.value.line == 9
    assert info.value.key == "a.b[1]"


def test_top_level_variables() -> None:
    assert top_level_variables("${NEODEV_POSTGRES_IMAGE:-postgres:${TAG}}") == [
        "NEODEV_POSTGRES_IMAGE"]
    assert top_level_variables("$REGISTRY/app:${TAG:-dev}") == ["REGISTRY", "TAG"]
    assert top_level_variables("postgres:18") == []

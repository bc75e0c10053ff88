"""Glob matching for watch / ignore lists (no file system involved)."""

from __future__ import annotations

import re

import pytest

from neodev.config.globs import GlobSet, glob_problem, glob_to_regex


@pytest.mark.parametrize(("pattern", "path", "expected"), [
    ("src/**", "src/a.kt", True),
    ("src/**", "src/main/kotlin/a.kt", True),
    ("src/**", "srcx/a.kt", False),
    ("src/**", "test/src/a.kt", False),
    ("**/*.kt", "a.kt", True),
    ("**/*.kt", "src/main/a.kt", True),
    ("**/*.kt", "src/main/a.kts", False),
    ("src/**/*.kt", "src/a.kt", True),
    ("src/**/*.kt", "src/x/y/a.kt", True),
    ("*.json", "package.json", True),
    ("*.json", "sub/package.json", False),  # `*` does not cross `/`
    ("next.config.*", "next.config.mjs", True),
    ("file?.txt", "file1.txt", True),
    ("file?.txt", "file12.txt", False),
    ("[ab].txt", "a.txt", True),
    ("[!ab].txt", "a.txt", False),
    ("[!ab].txt", "c.txt", True),
    ("a+b(c).txt", "a+b(c).txt", True),
])
def test_glob_to_regex(pattern: str, path: str, expected: bool) -> None:
    assert bool(re.fullmatch(glob_to_regex(pattern), path)) is expected


@pytest.mark.parametrize("path", [
    "src/node_modules/x.js", "node_modules/a/b.js", ".git/HEAD", "src/.a.kt.swp", "src/a.kt~",
    "src/.#a.kt", "src/4913", "build/classes/A.class", "src/__pycache__/a.pyc", ".neodev/x",
    "target/x", ".gradle/caches/x",
])
def test_default_ignores(path: str) -> None:
    globs = GlobSet(["**"])
    assert globs.is_ignored(path)
    assert not globs.matches(path)


def test_directory_only_ignore_does_not_hide_a_file_of_that_name() -> None:
    globs = GlobSet(["**"])
    assert globs.matches("src/build")  # a file called build
    assert not globs.matches("src/build/out.txt")


def test_extra_ignores_anchored_and_anywhere() -> None:
    globs = GlobSet(["src/**"], ["src/generated/**", "*.log"])
    assert globs.matches("src/a.kt")
    assert not globs.matches("src/generated/x.kt")
    assert not globs.matches("src/deep/app.log")
    assert not globs.matches("README.md")  # not watched


def test_empty_watch_means_everything_not_ignored() -> None:
    globs = GlobSet([])
    assert globs.matches("anything/at/all.txt")
    assert not globs.matches("node_modules/x")
    assert globs.watch_roots() == ([""], False)


@pytest.mark.parametrize(("watch", "roots"), [
    (["src/**"], (["src"], False)),
    (["src/**", "package.json"], (["src"], True)),
    (["package.json", "next.config.*"], ([], True)),
    (["src/main/**", "src/**"], (["src"], False)),
    (["**/*.kt"], ([""], False)),
    (["*/src/**"], ([""], False)),
    (["**"], ([""], False)),
])
def test_watch_roots(watch: list[str], roots: tuple[list[str], bool]) -> None:
    assert GlobSet(watch).watch_roots() == roots


@pytest.mark.parametrize(("pattern", "needle"), [
    ("", "empty"), ("/", "empty"), ("src/[z-a]/**", "invalid glob: bad character range z-a"),
    ("../other/**", "'..'"), ("./src/**", "'.'"), ("src/../x", "'..'"),
])
def test_patterns_that_can_never_work(pattern: str, needle: str) -> None:
    problem = glob_problem(pattern)
    assert problem is not None and needle in problem


@pytest.mark.parametrize("pattern", ["src/**", "**/*.kt", "[!a]*.txt", "package.json", "[", "a]"])
def test_patterns_that_work(pattern: str) -> None:
    assert glob_problem(pattern) is None

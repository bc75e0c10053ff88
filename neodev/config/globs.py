"""Glob patterns for watch / ignore lists, matched against paths relative to a process's cwd.

`fnmatch` lets `*` cross `/` and Python 3.11 has no `PurePath.full_match`, so patterns are
translated to regular expressions here:

- `*` matches within one path component, `?` one character, `[...]` a character class;
- `**` as a whole component matches any number of components (`src/**` = everything under src,
  `**/*.kt` = any .kt file at any depth);
- watch patterns are anchored at the cwd (`package.json` is the top-level file only);
- ignore patterns follow .gitignore: without a `/` they match a component at any depth
  (`node_modules`, `*.swp`), and a trailing `/` (`build/`) matches directories only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_IGNORES: tuple[str, ...] = (
    ".git/", ".hg/", ".svn/", "node_modules/", "build/", "target/", ".gradle/", "__pycache__/",
    ".neodev/", ".idea/", ".venv/", ".mypy_cache/", ".pytest_cache/", ".next/", "out/",
    # Editor swap, backup and lock files (vim *.swp and its write test file 4913, emacs .#x / #x#).
    "*.swp", "*.swo", "*.swx", "*~", ".#*", "#*#", "4913", "*.pyc", ".DS_Store", "*.tmp",
)


def glob_to_regex(pattern: str) -> str:
    """The regular expression (without anchors) for one glob pattern.

    Args:
        pattern: A glob with `/` separators, relative (no leading `/`).

    Returns:
        A regex matching the whole relative path.
    """
    parts = [p for p in pattern.strip("/").split("/") if p]
    out: list[str] = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            # Zero or more whole components, with the separator that follows them.
            out.append(".*" if last else "(?:[^/]+/)*")
            continue
        out.append(_component_regex(part) + ("" if last else "/"))
    return "".join(out)


def _component_regex(part: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(part):
        ch = part[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = part.find("]", i + 2 if part[i + 1:i + 2] in ("!", "]") else i + 1)
            if end == -1:
                out.append(re.escape(ch))
            else:
                body = part[i + 1:end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def glob_problem(pattern: str) -> str | None:
    """Why a watch or ignore pattern can never work, or None; the profile refuses such patterns.

    Checked when the configuration loads, so a typo fails before anything starts rather than
    when the file watcher compiles it.
    """
    parts = [p for p in pattern.strip("/").split("/") if p]
    if not parts:
        return "an empty glob pattern matches nothing"
    if "." in parts or ".." in parts:
        return ("'.' and '..' in a glob pattern never match: patterns are relative to the "
                "process's working directory, e.g. 'src/**'")
    try:
        re.compile(glob_to_regex(pattern))
    except re.error as exc:
        return f"invalid glob: {exc}"
    return None


@dataclass(frozen=True)
class _Compiled:
    regex: re.Pattern[str]
    anywhere: bool
    """Matches a single component at any depth (gitignore pattern without a slash)."""
    dirs_only: bool


def _compile_ignore(pattern: str) -> _Compiled:
    dirs_only = pattern.endswith("/")
    body = pattern.strip("/")
    anywhere = "/" not in body
    return _Compiled(re.compile(glob_to_regex(body) + r"\Z"), anywhere, dirs_only)


class GlobSet:
    """Watch globs plus ignore globs (with the built-in defaults) for one process.

    Args:
        watch: Patterns whose changes count; empty = every path under the cwd.
        ignore: Extra patterns that never count (added to DEFAULT_IGNORES).
        use_defaults: Include DEFAULT_IGNORES.
    """

    def __init__(self, watch: tuple[str, ...] | list[str], ignore: tuple[str, ...] | list[str] = (),
                 use_defaults: bool = True) -> None:
        self.watch = tuple(watch)
        self.ignore = (DEFAULT_IGNORES if use_defaults else ()) + tuple(ignore)
        self._watch = [re.compile(glob_to_regex(p) + r"\Z") for p in self.watch]
        self._ignore = [_compile_ignore(p) for p in self.ignore]

    def is_ignored(self, rel: str) -> bool:
        """True when a relative path (or one of its parent directories) is ignored."""
        parts = rel.split("/")
        for ig in self._ignore:
            if ig.anywhere:
                # A directory pattern can only match a parent component, never the leaf.
                candidates = parts[:-1] if ig.dirs_only else parts
                if any(ig.regex.match(c) for c in candidates):
                    return True
            else:
                prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
                if ig.dirs_only:
                    prefixes = prefixes[:-1]
                if any(ig.regex.match(p) for p in prefixes):
                    return True
        return False

    def is_watched(self, rel: str) -> bool:
        """True when a relative path matches a watch pattern (any path when there are none)."""
        if not self._watch:
            return True
        return any(w.match(rel) for w in self._watch)

    def matches(self, rel: str) -> bool:
        """True when a change to this relative path should be reported."""
        rel = rel.strip("/")
        return bool(rel) and not self.is_ignored(rel) and self.is_watched(rel)

    def watch_roots(self) -> tuple[list[str], bool]:
        """Where to put watches, so ignored trees outside the globs cost no inotify watches.

        Returns:
            (recursive roots relative to cwd, whether the cwd's own entries need a
            non-recursive watch). `([""], False)` means the whole cwd, recursively.
        """
        if not self.watch:
            return [""], False
        roots: set[str] = set()
        top_level = False
        for pattern in self.watch:
            parts = [p for p in pattern.strip("/").split("/") if p]
            if not parts or parts[0] == "**":
                return [""], False  # everything, at any depth
            literal: list[str] = []
            for part in parts[:-1]:
                if any(ch in part for ch in "*?["):
                    break
                literal.append(part)
            if len(literal) == len(parts) - 1 and len(parts) == 1:
                top_level = True  # a plain file name (or glob) directly in the cwd
            elif literal:
                roots.add("/".join(literal))
            else:
                return [""], False  # the pattern starts with a wildcard directory
        # Drop roots nested in other roots.
        kept = sorted(r for r in roots if not any(r.startswith(o + "/") for o in roots))
        return kept, top_level

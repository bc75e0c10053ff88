"""`neodev config`'s answer, kept between runs and reused only while none of its inputs changed.

Validating a profile costs about 100 ms before any work is done: importing pydantic and building
its models. The answer, though, is a function of a few things only: the process environment,
neodev's own code and installed packages, and the facts the loader gathered from disk (file
texts, directory and symlink look-ups; `neodev.config.inputs`). So the first run records those
facts while it loads the plan and stores the masked answer with them
(`.neodev/cache/config-*.json`, 0600); a later run asks every recorded question again — a few
small reads and stats — and prints the stored answer only when every answer is the same. An
invalid configuration is never stored, so an error is always found afresh. As devenv caches
its evaluation, keyed by the files and variables it read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from neodev import __version__
from neodev.config import inputs
from neodev.paths import WorkspacePaths

FORMAT = 1
"""Bumped when the stored layout changes."""
_PACKAGE = Path(__file__).resolve().parent.parent


def answer(paths: WorkspacePaths, profile: str, environ: Mapping[str, str],
           compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The stored answer when it is still right, else `compute()` (recorded, then stored).

    Args:
        paths: The workspace.
        profile: The profile as the person named it (a name or a path).
        environ: The process environment `compute` loads the plan with.
        compute: Loads the plan and returns the JSON-able answer; may raise ConfigError.
    """
    file = _cache_file(paths, profile)
    key = _key(paths, profile, environ)
    stored = _read(file)
    if stored is not None and stored.get("key") == key and _facts_hold(stored.get("facts")):
        result = stored.get("answer")
        if isinstance(result, dict):
            return result
    with inputs.recording() as record:
        result = compute()
    _store(file, {"format": FORMAT, "key": key, "facts": record.facts, "answer": result})
    return result


def _cache_file(paths: WorkspacePaths, profile: str) -> Path:
    name = hashlib.sha256(profile.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return paths.state_dir / "cache" / f"config-{name}.json"


def _key(paths: WorkspacePaths, profile: str, environ: Mapping[str, str]) -> str:
    """What the answer depends on besides the recorded facts, as one digest."""
    parts = [FORMAT, __version__, str(paths.root), profile, sorted(environ.items()),
             _code_stamp()]
    text = json.dumps(parts, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _code_stamp() -> list[object]:
    """Changes with neodev's code (an editable checkout) and with the installed packages.

    Every module file of the package by size and mtime, and the mtime of each site-packages
    directory: installing, upgrading or removing a package adds or removes entries there.
    """
    stamp: list[object] = []
    for directory, _, names in os.walk(_PACKAGE):
        if "__pycache__" in directory:
            continue
        for name in sorted(names):
            if name.endswith(".py"):
                info = os.stat(os.path.join(directory, name))
                stamp.append((directory, name, info.st_size, info.st_mtime_ns))
    for entry in sys.path:
        if os.path.basename(entry) in ("site-packages", "dist-packages"):
            with contextlib.suppress(OSError):
                stamp.append((entry, os.stat(entry).st_mtime_ns))
    return stamp


def _facts_hold(facts: object) -> bool:
    if not isinstance(facts, list) or not all(
            isinstance(f, list) and len(f) == 3 and f[0] in inputs.KINDS for f in facts):
        return False
    return inputs.unchanged([(f[0], str(f[1]), f[2]) for f in facts])


def _read(file: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def _store(file: Path, entry: dict[str, Any]) -> None:
    """Write the entry; a workspace that cannot be written just goes without a cache."""
    from neodev.statefile import write_private

    with contextlib.suppress(OSError, ValueError):
        write_private(file, json.dumps(entry, ensure_ascii=False))

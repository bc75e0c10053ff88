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

This module says where the answer is kept, what it depends on, and whether a stored one still
holds (pure: it reads, writes nothing); `neodev.configstate.cached_config` reads and writes
the file.
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


def cache_file(paths: WorkspacePaths, profile: str) -> Path:
    """Where the answer for `profile` (a name or a path, as the person named it) is kept."""
    name = hashlib.sha256(profile.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return paths.state_dir / "cache" / f"config-{name}.json"


def stored_answer(stored: Mapping[str, Any] | None, key: str) -> dict[str, Any] | None:
    """The answer of a stored entry while it still holds (same key, every fact unchanged)."""
    if stored is None or stored.get("format") != FORMAT or stored.get("key") != key:
        return None
    if not _facts_hold(stored.get("facts")):
        return None
    result = stored.get("answer")
    return result if isinstance(result, dict) else None


def record(key: str, compute: Callable[[], dict[str, Any]]
           ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Compute the answer while recording the facts it rests on.

    Args:
        key: `cache_key(...)` of the same call.
        compute: Loads the plan and returns the JSON-able answer; may raise ConfigError.

    Returns:
        (the answer, the entry to store for it).
    """
    with inputs.recording() as recorded:
        result = compute()
    return result, {"format": FORMAT, "key": key, "facts": recorded.facts, "answer": result}


def cache_key(paths: WorkspacePaths, profile: str, environ: Mapping[str, str],
              extra: object = None) -> str:
    """What the answer depends on besides the recorded facts, as one digest.

    Args:
        extra: Anything else it depends on, JSON-able (the instance: the option naming it,
            the workspace's record and the machine's registry).
    """
    parts = [FORMAT, __version__, str(paths.root), profile, sorted(environ.items()),
             _code_stamp(), extra]
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

"""Instance names: valid compose project names, derived from a directory as compose does.

Compose (compose-go's `NormalizeProjectName`) makes a project name of a directory name by
lower-casing it, keeping only `[a-z0-9_-]` and dropping leading `_` and `-`. Two workspaces
whose directories normalise alike (`~/a/neotool`, `~/b/neotool`) are told apart by a suffix
made of the workspace's real path, never merged.
"""

from __future__ import annotations

import hashlib
import re

NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
"""A compose project name: lowercase letters, digits, '-' and '_', starting with a letter or
digit (the rule compose enforces)."""
MAX_LENGTH = 48
"""Longest name neodev gives (containers are `<name>-<service>-1`, kind clusters
`neodev-<name>-<profile>`: both stay readable and within host name limits)."""
FALLBACK = "neodev"
"""The stem when a directory name keeps no valid character (`~/???`)."""


def is_valid(name: str) -> bool:
    return bool(NAME.fullmatch(name)) and len(name) <= MAX_LENGTH


def problem(name: str) -> str | None:
    """Why `name` cannot name an instance, or None."""
    if not NAME.fullmatch(name):
        return ("an instance name is a compose project name: lowercase letters, digits, '-' "
                "and '_', starting with a letter or digit")
    if len(name) > MAX_LENGTH:
        return f"an instance name has at most {MAX_LENGTH} characters"
    return None


def from_directory(directory_name: str) -> str:
    """The project name compose derives from a directory name (never empty here)."""
    kept = "".join(re.findall(r"[a-z0-9_-]", directory_name.lower())).lstrip("_-")
    return kept[:MAX_LENGTH - 5] or FALLBACK


def suffixed(stem: str, real_path: str, digits: int = 4) -> str:
    """`stem-xxxx`: the stem told apart by hex digits of a hash of the workspace's real path
    (stable: the same checkout always gets the same suffix)."""
    digest = hashlib.sha256(real_path.encode()).hexdigest()[:digits]
    return f"{stem[:MAX_LENGTH - digits - 1]}-{digest}"

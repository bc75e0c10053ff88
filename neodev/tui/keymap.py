"""The user's keymap: remap any dashboard binding by its id, from a TOML file.

`~/.config/neodev/keymap.toml` (or the file `$NEODEV_KEYMAP` names):

    [keys]
    restart = "ctrl+r"        # binding id = key(s), comma-separated for several
    quit = "q,ctrl+d"

The ids are listed in the help screen (`?`). A file that cannot be read is reported in the
dashboard and ignored — a broken keymap never keeps it from starting.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

DEFAULT_FILE = Path("~/.config/neodev/keymap.toml")
MAX_BYTES = 64 * 1024


def keymap_file() -> Path:
    override = os.environ.get("NEODEV_KEYMAP")
    return Path(override).expanduser() if override else DEFAULT_FILE.expanduser()


def load_keymap(path: Path | None = None) -> tuple[dict[str, str], str | None]:
    """(binding id -> keys, a problem to report or None). A missing file is no problem."""
    path = path or keymap_file()
    try:
        if path.stat().st_size > MAX_BYTES:
            return {}, f"{path}: larger than {MAX_BYTES} bytes, ignored"
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, f"{path}: cannot be read ({exc}); default keys are used"
    keys = data.get("keys")
    if not isinstance(keys, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                             for k, v in keys.items()):
        return {}, f"{path}: expected a [keys] table of binding id = \"key\" strings"
    return dict(keys), None

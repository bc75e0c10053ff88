"""The dashboard's keys (`KEYS`), and the user's keymap: remap any of them by its id, from a
TOML file.

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

from textual.binding import Binding

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


KEYS: tuple[Binding, ...] = (
    Binding("s", "act('start')", "Start", id="start"),
    Binding("x", "act('stop')", "Stop", id="stop"),
    Binding("r", "act('restart')", "Restart", id="restart"),
    Binding("b", "act('reload')", "Reload", id="reload"),
    Binding("S", "start_all", "Start all", show=False, id="start_all"),
    Binding("X", "stop_all", "Stop all", show=False, id="stop_all"),
    Binding("d", "details", "Details", id="details"),
    Binding("o", "open_url", "Open", show=False, id="open"),
    Binding("c", "copy_connection", "Copy DSN/URL", show=False, id="copy_connection"),
    Binding("slash", "search", "Search", id="search"),
    Binding("n", "next_match", "Next match", show=False, id="next_match"),
    Binding("N", "previous_match", "Previous match", show=False, id="previous_match"),
    Binding("f", "toggle_unit_filter", "This unit/all", id="filter_unit"),
    Binding("e", "cycle_level", "Level filter", show=False, id="filter_level"),
    Binding("p", "toggle_probes", "Probe lines", show=False, id="probe_lines"),
    Binding("w", "toggle_wrap", "Wrap", show=False, id="wrap"),
    Binding("t", "toggle_timestamps", "Timestamps", show=False, id="timestamps"),
    Binding("ctrl+l", "clear_logs", "Clear", show=False, id="clear"),
    Binding("z", "fullscreen", "Full-screen logs", show=False, id="fullscreen"),
    Binding("y", "copy_selection", "Copy selection", show=False, id="copy"),
    Binding("end", "follow", "Follow", show=False, id="follow"),
    Binding("question_mark", "help", "Help", id="help"),
    Binding("D", "down_volumes", "Down + delete volumes", show=False, id="down_volumes"),
    Binding("i", "instances", "Instances on this machine", show=False, id="instances"),
    Binding("q", "quit_keep", "Quit", id="quit"),
    Binding("Q", "quit_stop", "Stop all + quit", id="quit_stop"),
)
"""Every key of the dashboard, each with the id a user remaps it by (`keymap.toml`: `[keys]
<id> = "<key>"`)."""

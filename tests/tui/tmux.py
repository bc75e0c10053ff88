"""A real terminal for the dashboard: one detached tmux session on a private server.

`neodev` opens the dashboard only when stdin and stdout are a terminal, so the end-to-end test
and the benchmark run the real command in a tmux pane of a fixed size, type with `send-keys`
and read the screen with `capture-pane`. The server has a socket of its own (`-L`) and no user
configuration (`-f` names ours), so nothing here touches a developer's tmux; `kill` ends that
server and nothing else. Panes stay after their command exits (`remain-on-exit`), so what the
command printed on the way out can still be read.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

COMMAND_TIMEOUT = 10.0
"""Seconds one tmux command may take (they take milliseconds)."""
CONFIG = "set -g remain-on-exit on\nset -g status off\nset -g escape-time 0\n"
"""No status line (the pane is the whole terminal); panes outlive their command; keys go
through tmux at once (its default holds Escape back 500 ms, waiting for a sequence)."""


class TmuxError(RuntimeError):
    """tmux is missing, a command failed, or the screen never showed what was awaited."""


class Tmux:
    """One tmux server with one session, `main`, of `width` x `height` cells."""

    def __init__(self, config_dir: Path, width: int = 120, height: int = 40) -> None:
        if shutil.which("tmux") is None:
            raise TmuxError("tmux is not installed (apt-get install tmux)")
        self.socket = f"neodev-{uuid.uuid4().hex[:12]}"
        self.width = width
        self.height = height
        self.config = config_dir / f"{self.socket}.conf"
        self.config.write_text(CONFIG)
        self.started = False
        self._socket_path: Path | None = None

    def _tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        proc = subprocess.run(["tmux", "-L", self.socket, "-f", str(self.config), *args],
                              capture_output=True, text=True, env=env,
                              timeout=COMMAND_TIMEOUT)
        if proc.returncode != 0:
            raise TmuxError(f"tmux {' '.join(args[:2])} failed: {proc.stderr.strip()}")
        return proc.stdout

    def start(self, argv: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
        """Run `argv` (no shell) as the session's only pane; `env` is its whole environment
        (the server starts with it, and the session inherits the server's)."""
        self._tmux("new-session", "-d", "-s", "main", "-x", str(self.width),
                   "-y", str(self.height), "-c", str(cwd), "--", *argv, env=env)
        self.started = True
        self._socket_path = Path(self._tmux("display-message", "-p", "#{socket_path}").strip())

    def pid(self) -> int:
        """The pid of the pane's command."""
        return int(self._tmux("display-message", "-p", "-t", "main", "#{pane_pid}").strip())

    def keys(self, *keys: str) -> None:
        """Key names as tmux spells them: `Escape`, `Enter`, `Down`, `q`, `?`."""
        self._tmux("send-keys", "-t", "main", *keys)

    def type(self, text: str) -> None:
        """Literal text, character by character."""
        self._tmux("send-keys", "-t", "main", "-l", text)

    def screen(self) -> str:
        """What the pane shows now, as plain text (one line per row)."""
        return self._tmux("capture-pane", "-p", "-t", "main")

    def exit_status(self) -> int | None:
        """The command's exit status once it ended (None while it runs)."""
        fields = self._tmux("display-message", "-p", "-t", "main",
                            "#{pane_dead} #{pane_dead_status}").split()
        return int(fields[1]) if len(fields) == 2 and fields[0] == "1" else None

    def wait_for(self, what: str, condition: Callable[[str], bool], timeout: float,
                 interval: float = 0.05) -> str:
        """Poll the screen until `condition(screen)` holds; returns that screen.

        Raises:
            TmuxError: not within `timeout` seconds (the last screen is in the message).
        """
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if condition(shown):
                return shown
            if time.monotonic() >= deadline:
                raise TmuxError(f"the terminal did not show {what} within {timeout}s; it "
                                f"shows:\n{shown}")
            time.sleep(interval)  # a poll interval, not a synchronisation: bounded above

    def wait_for_text(self, pattern: str, timeout: float) -> str:
        """Poll until the screen matches the regular expression (multiline)."""
        compiled = re.compile(pattern, re.MULTILINE)
        return self.wait_for(repr(pattern), lambda s: compiled.search(s) is not None, timeout)

    def kill(self) -> None:
        """End this server (its session and the pane's command); never raises."""
        if self.started:
            subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                           timeout=COMMAND_TIMEOUT, check=False)
        if self._socket_path is not None:
            self._socket_path.unlink(missing_ok=True)  # kill-server leaves it behind
        self.config.unlink(missing_ok=True)

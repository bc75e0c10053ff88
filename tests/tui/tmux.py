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
import shlex
import shutil
import subprocess
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from neodev.timing import Deadline
from tests.waiting import until

COMMAND_TIMEOUT = 10.0
"""Seconds one tmux command may take (they take milliseconds)."""
CONFIG = "set -g remain-on-exit on\nset -g status off\nset -g escape-time 0\n"
"""No status line (the pane is the whole terminal); panes outlive their command; keys go
through tmux at once (its default holds Escape back 500 ms, waiting for a sequence)."""


class TmuxError(RuntimeError):
    """tmux is missing, or a command failed."""


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
        """The command's exit status once it ended, -N for a signal N (None while it runs)."""
        dead, _, rest = self._tmux("display-message", "-p", "-t", "main",
                                   "#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}"
                                   ).strip().partition(":")
        if dead != "1":
            return None
        status, _, signal = rest.partition(":")
        return int(status) if status else -int(signal or 0)

    def wait_for(self, what: str, condition: Callable[[str], bool], timeout: float) -> str:
        """Look at the screen until `condition(screen)` holds; returns that screen.

        Raises:
            AssertionError: not within `timeout` seconds (the last screen is in the message).
        """
        return until(self.screen, f"the terminal to show {what}", timeout, ok=condition)

    def wait_for_text(self, pattern: str, timeout: float) -> str:
        """Poll until the screen matches the regular expression (multiline)."""
        compiled = re.compile(pattern, re.MULTILINE)
        return self.wait_for(repr(pattern), lambda s: compiled.search(s) is not None, timeout)

    def control(self) -> TmuxControl:
        """A control-mode client of this server: commands without a process each."""
        return TmuxControl(["tmux", "-L", self.socket, "-f", str(self.config), "-C",
                            "attach-session", "-t", "main"])

    def kill(self) -> None:
        """End this server (its session and the pane's command); never raises."""
        if self.started:
            subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                           timeout=COMMAND_TIMEOUT, check=False)
        if self._socket_path is not None:
            self._socket_path.unlink(missing_ok=True)  # kill-server leaves it behind
        self.config.unlink(missing_ok=True)


class TmuxControl:
    """tmux in control mode (`tmux -C`): one client process, commands over a pipe.

    Spawning `tmux capture-pane` costs ~3 ms of CPU per call; a benchmark polling the screen
    every few milliseconds would steal a core from what it measures. A control client answers
    the same commands in tens of microseconds. It asks tmux not to stream the pane's output
    to it (`no-output`), and it has no size of its own, so the window keeps its size. Use as a
    context manager; every read is bounded by `COMMAND_TIMEOUT`.
    """

    def __init__(self, argv: list[str]) -> None:
        self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self._lines: list[str] = []
        self._ready = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="tmux-control", daemon=True)
        self._reader.start()
        self._next_line(lambda line: line.startswith("%session-changed"))
        self.command("refresh-client", "-f", "no-output")

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            with self._ready:
                self._lines.append(line.rstrip("\n"))
                self._ready.notify_all()
        with self._ready:
            self._lines.append("%exit")
            self._ready.notify_all()

    def _next_line(self, wanted: Callable[[str], bool] = lambda _: True) -> str:
        deadline = Deadline(COMMAND_TIMEOUT)
        with self._ready:
            while True:
                while self._lines:
                    line = self._lines.pop(0)
                    if line == "%exit":
                        raise TmuxError("the tmux control client ended")
                    if wanted(line):
                        return line
                if deadline.passed or not self._ready.wait(deadline.remaining()):
                    raise TmuxError(f"no answer from tmux within {COMMAND_TIMEOUT}s")

    def command(self, *args: str) -> list[str]:
        """Run one tmux command; its output lines.

        Raises:
            TmuxError: the command failed, or tmux did not answer in time.
        """
        assert self._proc.stdin is not None
        self._proc.stdin.write(" ".join(shlex.quote(a) for a in args) + "\n")
        self._proc.stdin.flush()
        # Notifications (%output, %window-renamed...) come only between answers.
        self._next_line(lambda line: line.startswith("%begin"))
        out: list[str] = []
        while True:
            line = self._next_line()
            if line.startswith("%end"):
                return out
            if line.startswith("%error"):
                raise TmuxError(f"tmux {args[0]} failed: {' '.join(out)}")
            out.append(line)

    def screen(self) -> str:
        return "\n".join(self.command("capture-pane", "-p", "-t", "main"))

    def keys(self, *keys: str) -> None:
        self.command("send-keys", "-t", "main", *keys)

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()  # the client detaches at end of input
        try:
            self._proc.wait(COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(COMMAND_TIMEOUT)
        self._reader.join(COMMAND_TIMEOUT)

    def __enter__(self) -> TmuxControl:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

"""Read a child's output lines on a thread, and wait (bounded) for the one that matters.

Tests of followers (`neodev logs -f`) must wait on an event — a line appearing — never on a
sleep. The reader collects every line as it comes; `wait_for` returns as soon as one contains
the text, or False at the deadline.
"""

from __future__ import annotations

import threading
from typing import IO


class LineReader:
    """Collects the lines of a text stream on a daemon thread."""

    def __init__(self, stream: IO[str] | None) -> None:
        assert stream is not None, "the child's stream must be a pipe"
        self.seen: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.seen.append(line.rstrip("\n"))
                self._changed.notify_all()

    def join(self, timeout: float = 10.0) -> None:
        """Wait for the end of the stream (the child closed it)."""
        self._thread.join(timeout)

    def wait_for(self, text: str, timeout: float) -> bool:
        """True once a line containing `text` was read; False after `timeout` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: any(text in s for s in self.seen), timeout)

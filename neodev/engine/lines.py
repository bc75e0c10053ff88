"""Output bytes into bounded text lines: the one splitter of both drivers.

The drivers read output in chunks (a process's pipes, Docker's log stream) and hand them to a
`LineSplitter`; the lines it gives go to the log store (`neodev.engine.logs`), which bounds them
again after masking. This module is apart from the store so that a driver imports the splitter
and the bounds, not the store (an import-linter contract in pyproject.toml says so).

A chatty app writes tens of thousands of lines a second, so the common case — a chunk of
complete, short lines — is split and decoded in a few calls over the whole chunk, not line by
line; a chunk that holds an over-long line takes the careful path, which cuts it.
"""

from __future__ import annotations

MAX_LINE_CHARS = 16_384
"""A longer line is cut here and marked (by the store); the rest is counted, not kept."""
MARKER_ROOM = 100
"""Room left for the marker a `LineSplitter` adds, so its cut line stays under
`MAX_LINE_CHARS` and is not cut (and marked) a second time by the store."""


def bound_line(line: str, limit: int = MAX_LINE_CHARS) -> str:
    """The line, cut at `limit` characters with a marker saying how much was dropped."""
    if len(line) <= limit:
        return line
    return f"{line[:limit]} … [neodev: {len(line) - limit} more characters not kept]"


class LineSplitter:
    """Bytes of output in, complete text lines out, in bounded memory.

    A line longer than `limit` bytes is cut at the limit with a marker, and the rest of it is
    skipped up to its newline, so neither memory nor the time spent on one line grows with its
    length. Lines are decoded as UTF-8 (invalid bytes replaced) and lose a trailing `\\r`.
    """

    def __init__(self, limit: int = MAX_LINE_CHARS - MARKER_ROOM) -> None:
        self._limit = limit
        self._buffer = bytearray()
        self._skipped = 0
        """Bytes of the current over-long line dropped so far (0: not in one)."""

    def feed(self, chunk: bytes) -> list[str]:
        """The lines completed by `chunk` (without their newline, `\\r` stripped)."""
        last = chunk.rfind(b"\n")
        if last < 0:
            self._take(chunk)
            return []
        lines: list[str] = []
        start = 0
        if self._buffer or self._skipped:  # the chunk ends a line begun before
            start = chunk.find(b"\n") + 1
            self._take(chunk[:start - 1])
            lines.append(self._finish())
        if start <= last:
            self._split_whole(chunk[start:last], lines)
        self._take(chunk[last + 1:])
        return lines

    def flush(self) -> list[str]:
        """What is left at the end of the stream, as a last line (if anything)."""
        if not self._buffer and not self._skipped:
            return []
        return [self._finish()]

    def _split_whole(self, body: bytes, lines: list[str]) -> None:
        """Complete lines (`body` without its last newline), nothing pending before them."""
        # A newline is never part of a multi-byte sequence, so decoding the whole body gives
        # the same text as decoding each line (invalid bytes replaced alike).
        text = body.decode("utf-8", "replace")
        split = text.split("\n")
        if len(body) > self._limit:
            # A line is at most 4 bytes a character (exactly 1 in ASCII text); one that may be
            # too long is cut as the byte-wise path does.
            longest = max(map(len, split))
            if longest > (self._limit if text.isascii() else self._limit // 4):
                for piece in body.split(b"\n"):
                    self._take(piece)
                    lines.append(self._finish())
                return
        if "\r" in text:
            lines.extend(line.rstrip("\r") for line in split)
        else:
            lines.extend(split)

    def _take(self, piece: bytes) -> None:
        if not piece:
            return
        if self._skipped:
            self._skipped += len(piece)
            return
        room = self._limit - len(self._buffer)
        if len(piece) <= room:
            self._buffer += piece
        else:
            self._buffer += piece[:room]
            self._skipped = len(piece) - room

    def _finish(self) -> str:
        text = self._buffer.decode("utf-8", "replace").rstrip("\r")
        if self._skipped:
            text += f" … [neodev: {self._skipped} more bytes of this line not kept]"
        self._buffer = bytearray()
        self._skipped = 0
        return text

"""The one way neodev writes a state file: atomically, private (0600) from the first byte.

Everything neodev keeps under `.neodev/` (daemon status, pid records, generated secrets, cluster
renders, Prometheus target files) goes through `write_private`: the content is written to a
temporary file in the same directory, flushed to disk and renamed over the old file, so a
crash mid-write leaves the previous version intact and a reader never sees half a file. The
temporary file is created with mode 0600 (never chmod-ed afterwards), so a secret is never
readable by others, not even for an instant.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

PRIVATE_MODE = 0o600


def write_private(path: Path, content: str | bytes, *, mode: int = PRIVATE_MODE) -> None:
    """Atomically replace `path` with `content`.

    Args:
        path: The file to write; its directory is created (0700) when missing.
        content: Text (written as UTF-8) or bytes.
        mode: File mode of the result (0600 unless a reader in a container needs more, e.g.
            Prometheus target files read by another user).

    Raises:
        OSError: the directory or the file cannot be written.
    """
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    # mkstemp creates the file 0600 in the same directory: the rename stays on one filesystem.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode != PRIVATE_MODE:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise

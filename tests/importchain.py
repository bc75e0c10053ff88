"""What a fresh interpreter imported, and through which chain: the one probe of the import budget.

A probe runs a code path (imports, a CLI command, the daemon) in a new interpreter under
`python -X importtime` and dumps `sys.modules` at exit; `Loaded` holds both, and names the
chain of imports that brought a package in, so a failure says where to fix it. The budget
itself, case by case, is the table in tests/unit/test_import_budget.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.constants import REPO_ROOT

PROBE = """\
import atexit, json, sys
out, mode, args = sys.argv[1], sys.argv[2], sys.argv[3:]
failed = {}
def dump():  # loaded modules only: a None entry blocks an import (neodev/daemon/__init__.py)
    with open(out, "w") as f:
        json.dump({"modules": sorted(n for n, m in sys.modules.items() if m is not None),
                   "failed": failed}, f)
atexit.register(dump)
if mode == "import":
    for name in args:  # the import statement's path: -X importtime reports only that one
        try:
            __import__(name)
        except Exception as exc:
            failed[name] = f"{type(exc).__name__}: {exc}"
elif mode == "cli":
    sys.argv = ["neodev", *args]
    from neodev.entry import main
    main()
else:
    from neodev.daemon.server import main
    sys.exit(main(args))
"""
"""Runs `mode` (import these modules | the CLI with these arguments | the daemon with these
arguments) and writes what was imported to `out` at exit, and which imports failed."""


def probe_argv(out: Path, mode: str, *args: str) -> list[str]:
    """The command line of a probe that dumps to `out`."""
    return [sys.executable, "-X", "importtime", "-c", PROBE, str(out), mode, *args]


def probe_env(extra: Mapping[str, str] = {}) -> dict[str, str]:
    """The environment of a probe: this one, the checkout first on the path."""
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), **extra}


def run_probe(mode: str, *args: str, cwd: Path, env: Mapping[str, str] = {},
              timeout: float = 60) -> Loaded:
    """Run one probe to its end in `cwd` (its dump is written there); what it imported.

    Raises:
        AssertionError: the probe failed, so its code path was not measured.
    """
    out = cwd / "imported.json"
    proc = subprocess.run(probe_argv(out, mode, *args), cwd=cwd, env=probe_env(env),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, (f"the probe ({mode} {' '.join(args)[:200]}) exited "
                                  f"{proc.returncode}, so its code path was not measured:\n"
                                  + "\n".join(import_errors(proc.stderr)[-30:]))
    return Loaded.read(out, proc.stderr)


@dataclass(frozen=True)
class Row:
    name: str
    depth: int


@dataclass(frozen=True)
class Loaded:
    modules: frozenset[str]
    rows: tuple[Row, ...]
    """`-X importtime` rows, children before their parent (as Python prints them)."""
    failed: Mapping[str, str] = field(default_factory=dict)
    """Module -> the error its import raised (import probes go on past one)."""

    @classmethod
    def read(cls, dump: Path, stderr: str) -> Loaded:
        """A probe's dump and the `-X importtime` lines of the same run's stderr."""
        found = json.loads(dump.read_text())
        rows = []
        for line in stderr.splitlines():
            if line.startswith("import time:") and "[us]" not in line:
                name = line.split("|", 2)[2]
                rows.append(Row(name.strip(), (len(name) - len(name.lstrip(" "))) // 2))
        return cls(frozenset(found["modules"]), tuple(rows), found["failed"])

    def has(self, package: str) -> list[str]:
        """The modules of `package` that were imported."""
        return sorted(m for m in self.modules if m == package or m.startswith(package + "."))

    def chain(self, package: str) -> str:
        """`package <- importer <- ... <- <main>` for the first import of `package`."""
        def inside(name: str) -> bool:
            return name == package or name.startswith(package + ".")

        for i, row in enumerate(self.rows):
            if not inside(row.name):
                continue
            parents = []
            depth = row.depth
            for later in self.rows[i + 1:]:
                if later.depth < depth:
                    parents.append(later.name)
                    depth = later.depth
            if parents and inside(parents[0]):
                continue  # a submodule seen from inside the package: keep looking
            return " <- ".join([row.name, *parents, "<main>"])
        return f"{package} (imported before -X importtime could see it)"


def import_errors(stderr: str) -> list[str]:
    """The lines of stderr that are not `-X importtime` rows (what the probe itself said)."""
    return [line for line in stderr.splitlines() if not line.startswith("import time:")]

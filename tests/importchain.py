"""What a fresh interpreter imported, and through which chain: read from `-X importtime`.

Shared by the import tests (tests/unit/test_import_budget.py for the CLI, tests/unit/
test_daemon_imports.py for the daemon): a probe runs the code path under `python -X importtime`
and dumps `sys.modules` at exit; `Loaded` holds both, and names the chain of imports that
brought a package in, so a failure says where to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    name: str
    depth: int


@dataclass(frozen=True)
class Loaded:
    modules: frozenset[str]
    rows: tuple[Row, ...]
    """`-X importtime` rows, children before their parent (as Python prints them)."""

    @classmethod
    def read(cls, modules: Iterable[str], stderr: str) -> Loaded:
        """The dumped `sys.modules` and the `-X importtime` lines of the same run's stderr."""
        rows = []
        for line in stderr.splitlines():
            if line.startswith("import time:") and "[us]" not in line:
                name = line.split("|", 2)[2]
                rows.append(Row(name.strip(), (len(name) - len(name.lstrip(" "))) // 2))
        return cls(frozenset(modules), tuple(rows))

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

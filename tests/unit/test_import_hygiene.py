"""Only neodev.tui imports textual: every other module loads in a fresh interpreter without it.

Modules are discovered with pkgutil, so a new module is covered the day it is added. Each import
runs in its own subprocess: an earlier import in this process (e.g. a TUI test) cannot hide a
leak, and one module's leak cannot be blamed on another.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import neodev
from tests.constants import REPO_ROOT

EXCLUDED_PREFIXES = ("neodev.tui",)
FORBIDDEN = "textual"


def core_modules() -> list[str]:
    """Every neodev module except the TUI package (and __main__, which runs the CLI)."""
    names = ["neodev"]
    for info in pkgutil.walk_packages(neodev.__path__, prefix="neodev."):
        name = info.name
        if name.startswith(EXCLUDED_PREFIXES) or name.endswith(".__main__"):
            continue
        names.append(name)
    return sorted(names)


def test_discovery_finds_the_core_packages() -> None:
    modules = core_modules()
    for expected in ("neodev.errors", "neodev.paths", "neodev.config.model",
                     "neodev.engine.runner"):
        assert expected in modules
    assert not [m for m in modules if m.startswith("neodev.tui")]


@pytest.mark.parametrize("module", core_modules())
def test_core_module_does_not_import_textual(module: str) -> None:
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        f"leaked = sorted(m for m in sys.modules if m == {FORBIDDEN!r} "
        f"or m.startswith({FORBIDDEN + '.'!r}))\n"
        "print(' '.join(leaked))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=60, check=False)
    assert proc.returncode == 0, f"importing {module} failed:\n{proc.stderr}"
    leaked = proc.stdout.strip()
    assert not leaked, f"importing {module} loaded {leaked}: only neodev.tui may import textual"

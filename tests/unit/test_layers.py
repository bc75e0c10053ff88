"""The layering rules of the design brief, machine-checked by import-linter.

The contracts live in pyproject.toml ([tool.importlinter]); this test runs `lint-imports` from
the same environment as the tests and fails with its report when a contract is broken.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.constants import REPO_ROOT


def lint_imports_command() -> list[str]:
    """lint-imports next to this interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).parent / "lint-imports"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("lint-imports")
    assert found, "lint-imports is not installed: pip install -e '.[test]' (import-linter)"
    return [found]


def test_import_linter_contracts_hold() -> None:
    proc = subprocess.run([*lint_imports_command(), "--no-cache"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"import-linter contracts broken:\n{report}"
    # A config without contracts would also exit 0: make sure they were really checked.
    assert " kept, 0 broken." in report, report

"""The CI recipe (`examples/ci/github-actions.yml`) passes actionlint and zizmor.

Both checkers come with the test extra (pyproject.toml): missing, the test fails — it never
skips. Each checker also has to reject a broken copy of the recipe, so a checker that checks
nothing (or a wrong path) cannot pass this test.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.constants import REPO_ROOT

RECIPE = REPO_ROOT / "examples" / "ci" / "github-actions.yml"
BROKEN = {
    # an expression naming a step that does not exist (actionlint), and a pull request's
    # title pasted into a shell script (both: script injection)
    "steps.start.outcome": "steps.nostep.outcome",
    'run: python -m pytest -q "$NEODEV_TESTS"':
        'run: echo "${{ github.event.pull_request.title }}"',
}


def checker(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    assert found, (f"{name} is not installed next to {sys.executable}: install the test extra "
                   "(pip install -e '.[test]')")
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False,
                          cwd=REPO_ROOT)


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    text = RECIPE.read_text()
    for old, new in BROKEN.items():
        assert old in text, f"the recipe changed: update BROKEN ({old!r})"
        text = text.replace(old, new)
    path = tmp_path / "broken.yml"
    path.write_text(text)
    return path


def test_the_recipe_is_a_workflow_with_the_steps_the_readme_promises() -> None:
    workflow = yaml.safe_load(RECIPE.read_text())
    steps = {step.get("id"): step for step in workflow["jobs"]["stack"]["steps"]}
    assert "--report-on-failure" in steps["start"]["run"] and "--wait" in steps["start"]["run"]
    assert steps["upload"]["if"] == "failure()"
    assert steps["upload"]["uses"].startswith("actions/upload-artifact@")
    assert steps["down"]["if"] == "always()" and "neodev down" in steps["down"]["run"]


def test_actionlint_passes_the_recipe_and_rejects_a_broken_one(broken: Path) -> None:
    actionlint = checker("actionlint")
    result = run(actionlint, str(RECIPE))
    assert result.returncode == 0, result.stdout + result.stderr
    result = run(actionlint, str(broken))
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'property "nostep" is not defined' in result.stdout
    assert "potentially untrusted" in result.stdout


def test_zizmor_passes_the_recipe_and_rejects_a_broken_one(broken: Path) -> None:
    zizmor = checker("zizmor")
    result = run(zizmor, "--offline", str(RECIPE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout
    result = run(zizmor, "--offline", str(broken))
    assert result.returncode != 0, result.stdout + result.stderr
    assert "template-injection" in result.stdout

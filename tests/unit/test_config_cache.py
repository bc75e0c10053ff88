"""The stored answer of `neodev config`: reused while its inputs hold, recomputed when any changes.

Each change below is one a person makes between two runs (an edit of the profile, of a compose
file, of `.env`, a variable exported, a directory removed, a symlink pointed elsewhere); after
it, the answer must be exactly what a fresh load gives. The guard test watches every path the
loader touches through `os` and checks each is one the recorded facts cover, so a new look at
the disk that bypasses `neodev.config.inputs` fails here rather than serving a stale answer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from neodev.client.spawn import load_validated
from neodev.config import inputs
from neodev.config.display import plan_for_display
from neodev.configstate import cached_config
from neodev.errors import ConfigError
from neodev.paths import WorkspacePaths
from tests.constants import REPO_ROOT

WS = Path(__file__).resolve().parent.parent / "fixtures" / "config" / "ws"
PROFILE = "good"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """The fixture workspace, its compose directory reached through a symlink."""
    root = tmp_path / "ws"
    shutil.copytree(WS, root)
    (root / "compose").rename(root / "compose-a")
    (root / "compose").symlink_to("compose-a")
    return root


class Counted:
    """The loader as `neodev config` runs it, counting how often it really ran."""

    def __init__(self, ws: Path, env: dict[str, str]) -> None:
        self.paths, self.env, self.runs = WorkspacePaths(ws), env, 0

    def fresh(self) -> dict[str, Any]:
        self.runs += 1
        return plan_for_display(load_validated(self.paths, PROFILE, self.env)[0])

    def answer(self) -> dict[str, Any]:
        return cached_config(self.paths, PROFILE, self.env, self.fresh)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _retarget_compose(ws: Path, env: dict[str, str]) -> None:
    shutil.copytree(ws / "compose-a", ws / "compose-b")
    _edit(ws / "compose-b" / "stack.yml", "redis:7", "redis:7.2")
    (ws / "compose").unlink()
    (ws / "compose").symlink_to("compose-b")


CHANGES: dict[str, Callable[[Path, dict[str, str]], None]] = {
    "profile edited": lambda ws, env: _edit(ws / "profiles" / "good.toml",
                                            'restart = "always"', 'restart = "on-failure"'),
    "compose file edited": lambda ws, env: _edit(ws / "compose-a" / "stack.yml",
                                                 "redis:7", "redis:7.2"),
    "env file edited": lambda ws, env: _edit(ws / "dev.env", "APP_ROOT=./app", "APP_ROOT=./x"),
    "variable exported": lambda ws, env: env.update(FIXTURE_DB_IMAGE="postgres:16"),
    "working directory removed": lambda ws, env: shutil.rmtree(ws / "app" / "worker"),
    "symlink retargeted": _retarget_compose,
    "secrets file created": lambda ws, env: (
        (ws / ".neodev").mkdir(exist_ok=True),
        (ws / ".neodev" / "secrets.env").write_text("EXTRA_SETTING=1\n")),
}


def test_a_second_run_reuses_the_answer_without_loading_again(ws: Path) -> None:
    loader = Counted(ws, {})
    first = loader.answer()
    assert loader.answer() == first
    assert loader.runs == 1


@pytest.mark.parametrize("change", CHANGES)
def test_a_changed_input_gives_the_fresh_answer(ws: Path, change: str) -> None:
    loader = Counted(ws, {})
    before = loader.answer()
    CHANGES[change](ws, loader.env)
    after = loader.answer()
    assert loader.runs == 2, "the stored answer was served after the change"
    assert after != before, "the change does not show in the answer: the case tests nothing"
    assert after == loader.fresh()
    assert loader.answer() == after and loader.runs == 3, "the new answer was not stored"


def test_an_invalid_profile_is_reported_even_after_a_stored_answer(ws: Path) -> None:
    loader = Counted(ws, {})
    loader.answer()
    _edit(ws / "profiles" / "good.toml", 'restart = "always"', 'restart = "sometimes"')
    with pytest.raises(ConfigError, match="restart"):
        loader.answer()


def test_a_damaged_or_unwritable_cache_is_only_a_slower_run(ws: Path) -> None:
    loader = Counted(ws, {})
    first = loader.answer()
    (stored,) = (ws / ".neodev" / "cache").iterdir()
    stored.write_text('{"format": 1, "key": ')
    assert loader.answer() == first and loader.runs == 2
    shutil.rmtree(ws / ".neodev" / "cache")
    (ws / ".neodev" / "cache").write_text("not a directory")
    assert loader.answer() == first and loader.answer() == first and loader.runs == 4


@pytest.fixture
def touched(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[tuple[str, str]]]:
    """Every (os function, absolute path) of os.stat, lstat, open, listdir or scandir meanwhile."""
    seen: set[tuple[str, str]] = set()
    for name in ("stat", "lstat", "open", "listdir", "scandir"):
        real = getattr(os, name)

        def spy(path: Any, *args: Any, _real: Any = real, _name: str = name, **kwargs: Any
                ) -> Any:
            if isinstance(path, str | os.PathLike):
                seen.add((_name, os.path.normpath(os.path.join(os.getcwd(), path))))
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(os, name, spy)
    yield seen


def test_every_path_the_loader_touches_is_in_the_recorded_facts(
        ws: Path, touched: set[tuple[str, str]]) -> None:
    """Files are opened only as recorded texts, and nothing is listed; a stat may look at any
    recorded path or a directory above one (resolving a path looks at each of its parents).
    Another question about a path already recorded is caught by the change cases above."""
    with inputs.recording() as record:
        load_validated(WorkspacePaths(ws), PROFILE, {})
    texts = {os.path.normpath(s) for kind, s, _ in record.facts if kind == "text"}
    looked_at: set[str] = set()
    for _, subject, found in record.facts:
        for path in (subject, found if isinstance(found, str) else ""):
            if path.startswith("/"):
                looked_at.update(os.path.normpath(p) for p in [path, *map(str, Path(path).parents)])
    allowed = {"open": texts, "stat": looked_at, "lstat": looked_at}
    unrecorded = sorted((name, path) for name, path in touched
                        if path not in allowed.get(name, set()))
    assert any(name == "open" for name, _ in touched), "the spy saw no file opened"
    assert not unrecorded, f"looked at without neodev.config.inputs: {unrecorded}"


def _config(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEODEV_WORKSPACE": str(ws), "NO_COLOR": "1",
           "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "neodev", "config", "-p", PROFILE, *args],
                          cwd=ws, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.parametrize("args", [(), ("--json",)])
def test_the_command_prints_the_same_answer_from_the_store(ws: Path, args: tuple[str, ...]
                                                           ) -> None:
    """What the stored answer spares (pydantic, yaml) is in tests/unit/test_import_budget.py."""
    first, second = _config(ws, *args), _config(ws, *args)
    assert first.returncode == 0 and second.returncode == 0, first.stderr[-2000:]
    assert second.stdout == first.stdout
    if args:
        assert json.loads(second.stdout)["profile"] == PROFILE

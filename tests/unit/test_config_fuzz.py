"""Broken and hostile configurations, run through the real CLI as a user would run it.

Every case of `hostile_corpus.corpus()` is written over a copy of the repository's `profiles/`
and `compose/`, then `neodev config` (and for a representative subset `neodev start`) runs on
it in a process of its own with a 1 GiB address-space limit and a timeout that kills it. Each
must exit 2 naming the file and the key, print no traceback, and start nothing: no daemon
socket or status file, no daemon process. A hang, a MemoryError or a crash fails the case.

The runs are children forked from one interpreter that imported neodev once (tests/forkrun.py):
each runs the command as `python -m neodev` does, in its workspace, with its own minimal
environment, limit and output files, a few at a time; 200 runs would otherwise pay 0.4 s of
imports each.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.constants import REPO_ROOT
from tests.unit.hostile_corpus import Case, corpus, round_trip_ok

MEMORY_LIMIT = 1 << 30
"""RLIMIT_AS of every neodev run: a hostile file must not make it need more."""
PARALLEL = 3
"""Runs at once: the runs are short and mostly CPU; a little over the two cores hides start-up."""
FORKRUN = REPO_ROOT / "tests" / "forkrun.py"


@dataclass
class _Run:
    case: Case
    command: str
    workspace: Path
    code: int | None = None
    hung: bool = False
    seconds: float = 0.0

    @property
    def stdout(self) -> str:
        return self._read("stdout")

    @property
    def stderr(self) -> str:
        return self._read("stderr")

    def _read(self, stream: str) -> str:
        return self.output(stream).read_text(errors="replace")

    def output(self, stream: str) -> Path:
        return self.workspace.parent / f"{self.workspace.name}.{self.command}.{stream}"


def _environment(workspace: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workspace),
        "LANG": "C.UTF-8", "NEODEV_WORKSPACE": str(workspace), "PYTHONPATH": str(REPO_ROOT),
        # Should a bad configuration ever get as far as the daemon, it must reach no engine.
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",
    }


def _run_all(jobs: list[tuple[Case, str, Path]]) -> list[_Run]:
    """Run every job, PARALLEL at a time, each killed at its deadline."""
    runs = [_Run(case, command, workspace) for case, command, workspace in jobs]
    lines = [json.dumps({"id": i, "argv": [run.command], "cwd": str(run.workspace),
                         "env": _environment(run.workspace), "stdout": str(run.output("stdout")),
                         "stderr": str(run.output("stderr")), "timeout": run.case.timeout,
                         "memory": MEMORY_LIMIT}) for i, run in enumerate(runs)]
    home = runs[0].workspace.parent if runs else REPO_ROOT
    bound = sum(run.case.timeout for run in runs) / PARALLEL + 60
    done = subprocess.run([sys.executable, str(FORKRUN), str(PARALLEL)], cwd=home,
                          env=_environment(home), input="\n".join(lines), capture_output=True,
                          text=True, timeout=bound, check=False)
    assert done.returncode == 0, f"tests/forkrun.py failed:\n{done.stderr[-3000:]}"
    for line in done.stdout.splitlines():
        result = json.loads(line)
        run = runs[result["id"]]
        run.code, run.hung, run.seconds = result["code"], result["hung"], result["seconds"]
    assert all(run.code is not None for run in runs), done.stderr[-3000:]
    return runs


def _workspace(base: Path, root: Path, index: int, case: Case) -> Path:
    workspace = root / f"case{index:03d}"
    shutil.copytree(base, workspace, symlinks=True)
    for name, content in case.files.items():
        path = workspace / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    if case.fifo:
        (workspace / case.fifo).unlink(missing_ok=True)
        os.mkfifo(workspace / case.fifo)
    return workspace


@pytest.fixture(scope="module")
def base_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("fuzz") / "base"
    for directory in ("profiles", "compose"):
        shutil.copytree(REPO_ROOT / directory, base / directory)
    return base


def _problems(run: _Run) -> list[str]:
    case, output = run.case, run.stdout + run.stderr
    if run.hung:
        return [f"still running after {case.timeout:.0f} s: killed"]
    found = []
    if "Traceback" in output:
        found.append("printed a traceback")
    if run.code != 2:
        found.append(f"exit code {run.code}, not 2")
    if Path(case.file).name not in run.stderr:
        found.append(f"stderr does not name {case.file}")
    if case.keys and not any(key in run.stderr for key in case.keys):
        found.append(f"stderr names none of the keys {case.keys}")
    found += [f"stderr lacks {needle!r}" for needle in case.needles if needle not in run.stderr]
    state = run.workspace / ".neodev"
    found += [f"{state / name} exists: something was started"
              for name in ("daemon.sock", "daemon.json", "daemon.lock", "daemon.log")
              if (state / name).exists()]
    return found


def _report(run: _Run, problems: list[str]) -> str:
    tail = run.stderr.strip()[-300:].replace("\n", "\n      ")
    return (f"{run.case.name} ({run.command}, {run.seconds:.1f} s): {'; '.join(problems)}\n"
            f"      {tail}")


def _daemons_under(root: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "neodev.daemon" in cmdline and any(str(root) in arg for arg in cmdline):
            found.append(proc)
    return found


def test_the_corpus_starts_from_a_valid_workspace(base_workspace: Path, tmp_path: Path) -> None:
    """Without a mutation `neodev config` succeeds: each case fails because of its change."""
    assert round_trip_ok()
    case = Case("unchanged", {}, "")
    (run,) = _run_all([(case, "config", _workspace(base_workspace, tmp_path, 0, case))])
    assert (run.code, run.hung) == (0, False), run.stderr
    assert "processes:" in run.stdout


def test_hostile_configurations_fail_cleanly(base_workspace: Path, tmp_path: Path) -> None:
    cases = corpus()
    workspaces = [_workspace(base_workspace, tmp_path, i, c) for i, c in enumerate(cases)]
    began = time.monotonic()
    runs = _run_all([(c, "config", w) for c, w in zip(cases, workspaces, strict=True)])
    # `start` only where `config` refused the configuration: a valid one would really start.
    refused = {id(r.case) for r in runs if r.code == 2}
    runs += _run_all([(c, "start", w) for c, w in zip(cases, workspaces, strict=True)
                      if c.start and id(c) in refused])
    elapsed = time.monotonic() - began
    strays = _daemons_under(tmp_path)
    for proc in strays:  # spawned by a run of this test: end them before failing
        proc.kill()
    failures = [_report(r, problems) for r in runs if (problems := _problems(r))]
    failures += [f"a daemon was started: pid {p.pid} {' '.join(p.cmdline())}" for p in strays]
    slowest = sorted(runs, key=lambda r: r.seconds, reverse=True)[:5]
    print(f"\n{len(runs)} runs of {len(cases)} cases in {elapsed:.1f} s; slowest: "
          + ", ".join(f"{r.case.name} ({r.command}) {r.seconds:.1f} s" for r in slowest))
    assert not failures, f"{len(failures)} problems:\n" + "\n".join(failures)

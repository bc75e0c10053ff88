"""The kind version the README requires (v0.32+) is checked: `cluster up` refuses an older
kind before anything changes (exit 5, saying why), and `doctor` says so too.

kind cannot run here: the recording STAND-IN (tests/cluster/standin.py) reports the version the
test sets.
"""

from __future__ import annotations

import os

import pytest

from neodev import doctor
from neodev.cluster import cluster_up
from neodev.cluster.tools import check_tools, kind_version_problem
from neodev.errors import ClusterError
from tests.cluster.test_cluster_cli import STAGING, neodev
from tests.cluster.test_cluster_commands import READ_ONLY


@pytest.mark.parametrize("line", ["kind v0.32.0 go1.24 linux/amd64",
                                  "kind v0.32.1-alpha.3+5f3d go1.25 darwin/arm64",
                                  "kind v0.40.2 go1.26 linux/amd64",
                                  "kind v1.0.0 go1.27 linux/amd64"])
def test_kind_032_and_newer_will_do(line: str) -> None:
    assert kind_version_problem(line) is None


@pytest.mark.parametrize("line", ["kind v0.31.0 go1.23 linux/amd64",
                                  "kind v0.20.0 go1.20.4 linux/amd64",
                                  "kind v0.9.0 go1.15.2 linux/amd64"])
def test_an_older_kind_is_too_old_naming_its_version(line: str) -> None:
    problem = kind_version_problem(line)
    assert problem is not None
    assert problem.startswith(line.split(" go")[0] + " is too old")
    assert "needs kind v0.32 or newer" in problem


def test_a_version_that_cannot_be_read_is_said_as_such() -> None:
    problem = kind_version_problem("kind version unknown")
    assert problem == ("cannot tell kind's version from 'kind version unknown'; the mirror "
                       "needs kind v0.32+")


def test_cluster_up_refuses_an_old_kind_before_anything_changes(
        standin, staging_plan, workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEODEV_STANDIN_KIND_VERSION", "v0.31.0")
    [kind] = [c for c in check_tools() if c.name == "kind"]
    assert not kind.ok and kind.version.startswith("kind v0.31.0")
    assert "install kind v0.32+" in kind.hint
    with pytest.raises(ClusterError) as failure:
        cluster_up(staging_plan, workspace)
    assert "kind: kind v0.31.0 is too old" in failure.value.message
    assert "nothing was changed" in failure.value.message
    assert all(tuple(c[:2]) in READ_ONLY for c in standin.calls())

    result = neodev(workspace, "cluster", "up", "--profile", STAGING)
    assert result.returncode == 5, result.stderr
    assert "kind v0.31.0 is too old: the mirror needs kind v0.32 or newer" in result.stderr
    assert all(tuple(c[:2]) in READ_ONLY for c in standin.calls())

    monkeypatch.setenv("NEODEV_STANDIN_KIND_VERSION", "v0.32.0")
    assert [c.ok for c in check_tools() if c.name == "kind"] == [True]


def test_doctor_warns_about_an_old_kind(standin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEODEV_STANDIN_KIND_VERSION", "v0.29.0")
    checks = {c.name: c for c in doctor.check_tools(dict(os.environ))}
    assert checks["kind"].status == "warn"
    assert checks["kind"].detail.startswith("kind v0.29.0 is too old")
    assert "needed only for the staging/prod cluster mirror" in checks["kind"].hint
    assert checks["kubectl"].status == "ok"

"""A run killed mid-way leaves its containers behind; the next run removes them by label.

Ryuk cannot be pulled here, and with pytest-xdist it would remove a shared container as soon
as the worker that started it ended, so the plugin's own janitor is what keeps a developer's
engine clean.
"""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from tests.constants import PLUGIN_RUNS
from tests.plugin.conftest import leftovers, run_inner

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group(PLUGIN_RUNS)]

CRASHING_SUITE = '''
import os
import signal


def test_killed_while_postgres_runs(neodev_postgres):
    os.kill(os.getpid(), signal.SIGKILL)  # no teardown, no sessionfinish: a real crash
'''

NEXT_SUITE = '''
import pytest


@pytest.mark.neodev("prometheus")
def test_next_run(neodev_prometheus):
    assert neodev_prometheus.port
'''


def test_the_next_run_removes_what_a_killed_run_left(
        pytester: pytest.Pytester, plugin_env: pytest.MonkeyPatch,
        engine: docker.DockerClient) -> None:
    # On-disk throwaway volumes this time: they must be found by their labels, too.
    pytester.makeini("[pytest]\nneodev_volumes = anonymous\n")
    crashed = run_inner(pytester, CRASHING_SUITE, timeout=120)
    assert crashed.result.ret == -9, crashed.result.stdout.str()
    left = leftovers(engine, crashed.session)
    assert any(item.startswith("container ") for item in left), left
    assert any(item.startswith("volume ") for item in left), left
    assert any(item.startswith("network ") for item in left), left
    assert Path(crashed.run["directory"]).exists()

    # The next run (the profile named in its ini file this time) cleans up first.
    pytester.makeini("[pytest]\nneodev_profile = local\n")
    following = run_inner(pytester, NEXT_SUITE, timeout=120)
    following.result.assert_outcomes(passed=1)
    assert following.session != crashed.session
    assert leftovers(engine, crashed.session) == []
    assert not Path(crashed.run["directory"]).exists()
    assert leftovers(engine, following.session) == []

"""Constants shared by the test suite: the local test images, labels, the repository root."""

from __future__ import annotations

import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The checkout the tests run from."""

TEST_POSTGRES_IMAGE = "neodev-test/postgres:15"
"""PostgreSQL 15 from Debian packages with the official image's interface (tests/images)."""

TEST_PROMETHEUS_IMAGE = "neodev-test/prometheus:2.42"
"""Prometheus 2.42 from Debian packages laid out like prom/prometheus (tests/images)."""

TEST_LABEL = "dev.neodev.test"
"""Every container, volume and network a test creates carries `dev.neodev.test=1`."""

TEST_SESSION_LABEL = "dev.neodev.test-session"
"""Optional second label naming the pytest session; what carries it is removed at session end."""

TEST_SESSION_ID = uuid.uuid4().hex[:12]
"""Identifies this pytest run (one per process)."""

TEST_LABELS: dict[str, str] = {TEST_LABEL: "1", TEST_SESSION_LABEL: TEST_SESSION_ID}
"""Labels to put on anything a test creates: cleaned up at session end even if the test dies."""

PROFILE_PORTS = "profile-ports"
"""The xdist group of the tests that run the shipped local profile on its own host ports (5432,
8080, ...): one worker runs them one after another, as two of them at once would collide."""

PLUGIN_RUNS = "plugin-runs"
"""The xdist group of the tests that run pytest sessions of their own with the plugin: each such
session's janitor removes what runs whose owner died left behind, so a test that kills a run
to see the next run clean up must not have another test's session clean up first."""

BUILD_IMAGES_HINT = "bash tests/images/build.sh"
"""How to build the test images (tests/run.sh does it automatically)."""

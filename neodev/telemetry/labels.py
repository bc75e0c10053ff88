"""The label names neodev puts on both metrics (Prometheus targets) and logs (Loki streams).

Why one module: the same names on both sides let one dashboard variable (`$unit`, `$project`)
filter metrics and logs alike, and let the Explore link for a unit's logs be built from them.
"""

from __future__ import annotations

from typing import Final

PROJECT: Final = "project"
"""The compose project of the plan (`EnvironmentPlan.project`)."""
UNIT: Final = "unit"
"""The unit name (a compose service or a profile process)."""
KIND: Final = "kind"
"""`process` or `container`."""
STREAM: Final = "stream"
"""Logs only: `stdout`, `stderr` or `neodev`."""

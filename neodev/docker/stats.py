"""CPU and memory figures from one `container.stats(stream=False)` sample, as the docker CLI
computes them (cli/command/container/stats_helpers.go)."""

from __future__ import annotations

from neodev.engine.runner import Stats
from neodev.jsontypes import JsonObject


def stats_from_sample(sample: JsonObject) -> Stats | None:
    """CPU % (cpu delta / system delta * online CPUs * 100) and memory minus page cache.

    Returns:
        Stats, or None when the sample is empty (the container is not running).
    """
    memory = sample.get("memory_stats") or {}
    if not memory.get("usage"):
        return None
    cpu = sample.get("cpu_stats") or {}
    pre = sample.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage", {}).get("total_usage", 0)
                 - pre.get("cpu_usage", {}).get("total_usage", 0))
    system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    online = cpu.get("online_cpus") or len(cpu.get("cpu_usage", {}).get("percpu_usage") or []) or 1
    percent = 0.0
    if cpu_delta > 0 and system_delta > 0 and pre.get("system_cpu_usage"):
        percent = cpu_delta / system_delta * online * 100.0
    return Stats(cpu_percent=percent, memory_bytes=_memory_without_cache(memory))


def _memory_without_cache(memory: JsonObject) -> int:
    usage = int(memory.get("usage", 0))
    detail = memory.get("stats") or {}
    # cgroup v1 reports total_inactive_file, v2 inactive_file; the CLI subtracts either.
    for key in ("total_inactive_file", "inactive_file"):
        if key in detail and detail[key] < usage:
            return usage - int(detail[key])
    return usage

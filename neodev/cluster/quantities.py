"""Kubernetes resource quantities: parse CPU and memory, scale them, write them back.

Only what the local layer needs to shrink requests/limits by a factor: CPU in cores or
millicores, memory with binary (Ki, Mi, Gi, Ti) or decimal (k, M, G, T) suffixes or plain bytes.
"""

from __future__ import annotations

import math
import re

from neodev.errors import ConfigError
from neodev.jsontypes import JsonObject

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50}
_DECIMAL = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
_MEMORY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")
_CPU = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m)?$")

MIN_CPU_MILLI = 5
"""Floor for a scaled CPU quantity: below this the scheduler rounds to nothing useful."""
MIN_MEMORY_MI = 16
"""Floor for a scaled memory quantity."""


def cpu_millicores(value: str | int | float) -> float:
    """`"250m"` -> 250, `"1"` -> 1000, `0.5` -> 500.

    Raises:
        ConfigError: the value is not a CPU quantity.
    """
    match = _CPU.match(str(value).strip())
    if not match:
        raise ConfigError(f"{value!r} is not a CPU quantity (valid: 250m, 0.5, 1)",
                          key="resources.cpu")
    number = float(match.group(1))
    return number if match.group(2) else number * 1000


def memory_bytes(value: str | int | float) -> float:
    """`"512Mi"` -> 536870912, `"1G"` -> 1e9, `1024` -> 1024.

    Raises:
        ConfigError: the value is not a memory quantity.
    """
    match = _MEMORY.match(str(value).strip())
    if not match:
        raise ConfigError(f"{value!r} is not a memory quantity (valid: 512Mi, 2Gi, 1G, 1024)",
                          key="resources.memory")
    suffix = match.group(2) or ""
    return float(match.group(1)) * (_BINARY.get(suffix) or _DECIMAL[suffix])


def scale_cpu(value: str | int | float, factor: float) -> str:
    """Scaled CPU in millicores, rounded up, at least MIN_CPU_MILLI (`"1"`, 0.25 -> `"250m"`)."""
    return f"{max(math.ceil(cpu_millicores(value) * factor), MIN_CPU_MILLI)}m"


def scale_memory(value: str | int | float, factor: float) -> str:
    """Scaled memory in Mi, rounded up, never below MIN_MEMORY_MI (`"2Gi"`, 0.25 -> `"512Mi"`)."""
    mebibytes = math.ceil(memory_bytes(value) * factor / 2**20)
    return f"{max(mebibytes, MIN_MEMORY_MI)}Mi"


def scale_resources(resources: JsonObject, factor: float) -> JsonObject:
    """A copy of a container's `resources` with cpu and memory requests/limits scaled.

    Other resource names (ephemeral-storage, GPUs) are kept as they are. Scaling is monotonic,
    so a request that was <= its limit stays <= it.
    """
    scaled: JsonObject = {}
    for section in ("requests", "limits"):
        values = resources.get(section)
        if not values:
            continue
        out = dict(values)
        if "cpu" in out:
            out["cpu"] = scale_cpu(out["cpu"], factor)
        if "memory" in out:
            out["memory"] = scale_memory(out["memory"], factor)
        scaled[section] = out
    for key, value in resources.items():
        scaled.setdefault(key, value)
    return scaled

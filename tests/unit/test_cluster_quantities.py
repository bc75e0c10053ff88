"""Scaling Kubernetes resource quantities for the laptop mirror."""

from __future__ import annotations

import pytest

from neodev.cluster.quantities import (
    cpu_millicores,
    memory_bytes,
    scale_cpu,
    scale_memory,
    scale_resources,
)
from neodev.errors import ConfigError


def test_parse():
    assert cpu_millicores("250m") == 250 and cpu_millicores("1") == 1000
    assert cpu_millicores(0.5) == 500
    assert memory_bytes("512Mi") == 512 * 2**20 and memory_bytes("1G") == 10**9
    assert memory_bytes("2Gi") == 2 * 2**30 and memory_bytes(1024) == 1024


@pytest.mark.parametrize("bad", ["1.5x", "", "-1", "ten"])
def test_bad_quantities_name_what_is_valid(bad):
    with pytest.raises(ConfigError, match="valid"):
        memory_bytes(bad)
    with pytest.raises(ConfigError, match="valid"):
        cpu_millicores(bad)


def test_scale_rounds_up_and_has_floors():
    assert scale_cpu("250m", 0.25) == "63m"
    assert scale_cpu("1000m", 0.25) == "250m"
    assert scale_cpu("10m", 0.1) == "5m"
    assert scale_memory("2Gi", 0.25) == "512Mi"
    assert scale_memory("100Mi", 0.1) == "16Mi"


def test_scale_resources_keeps_requests_below_limits_and_other_keys():
    scaled = scale_resources({"requests": {"cpu": "250m", "memory": "512Mi",
                                           "ephemeral-storage": "1Gi"},
                              "limits": {"cpu": "1", "memory": "2Gi"}}, 0.3)
    assert scaled["requests"]["ephemeral-storage"] == "1Gi"
    assert cpu_millicores(scaled["requests"]["cpu"]) <= cpu_millicores(scaled["limits"]["cpu"])
    assert memory_bytes(scaled["requests"]["memory"]) <= memory_bytes(scaled["limits"]["memory"])

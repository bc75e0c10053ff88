"""The dependency graph of a plan's units: start waves, stop order, closures.

Pure functions over `UnitSpec.depends_on`; the config loader has already rejected unknown
names and cycles, but these functions check again so the engine never deadlocks on a bad graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from neodev.config.model import UnitSpec


def start_waves(
    units: Mapping[str, UnitSpec], names: Iterable[str] | None = None
) -> list[list[str]]:
    """Group units into waves: each wave depends only on units of earlier waves.

    Args:
        units: every unit of the plan, by name.
        names: the units to order (default: all). Dependencies outside the set are ignored.

    Returns:
        The waves, each sorted by name.

    Raises:
        ValueError: when the dependencies among `names` form a cycle.
    """
    selected = set(units if names is None else names)
    remaining = {
        name: {d.service for d in units[name].depends_on if d.service in selected}
        for name in selected
    }
    waves: list[list[str]] = []
    placed: set[str] = set()
    while remaining:
        wave = sorted(name for name, deps in remaining.items() if deps <= placed)
        if not wave:
            raise ValueError(f"dependency cycle among: {', '.join(sorted(remaining))}")
        waves.append(wave)
        placed.update(wave)
        for name in wave:
            del remaining[name]
    return waves


def stop_waves(
    units: Mapping[str, UnitSpec], names: Iterable[str] | None = None
) -> list[list[str]]:
    """The reverse of `start_waves`: dependents stop before what they depend on."""
    return list(reversed(start_waves(units, names)))


def with_dependencies(units: Mapping[str, UnitSpec], names: Iterable[str]) -> set[str]:
    """The named units plus everything they depend on, transitively.

    Raises:
        KeyError: naming the first unknown unit.
    """
    result: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name in result:
            continue
        if name not in units:
            raise KeyError(name)
        result.add(name)
        stack.extend(d.service for d in units[name].depends_on)
    return result

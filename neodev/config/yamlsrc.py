"""YAML loading that remembers where each value was, so errors can name the line.

PyYAML's `compose` step gives nodes with `start_mark`; we build plain Python data from the
nodes ourselves (scalars through the safe constructor, so types match `yaml.safe_load`) and keep
a map from dotted key path (`services.postgres.ports[0]`) to 1-based line number.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from neodev.config.interpolate import join_path
from neodev.errors import ConfigError


def load_yaml(path: Path) -> tuple[object, dict[str, int]]:
    """Parse a YAML file.

    Returns:
        (data, lines): the data as `yaml.safe_load` would return it, and dotted key path ->
        line number of the value (keys map to the line of their value).

    Raises:
        ConfigError: unreadable file, YAML syntax error (with line), duplicate keys.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read file: {exc}", file=str(path)) from exc
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[str, int] = {}
        data = _build(loader, node, "", lines, str(path)) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ConfigError(f"YAML syntax error: {problem or exc}", file=str(path),
                          line=line) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", file=str(path)) from exc
    finally:
        loader.dispose()
    return data, lines


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: str, lines: dict[str, int],
           file: str) -> object:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<` merge keys
        result: dict[object, object] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                raise ConfigError("mapping keys must be scalars", file=file,
                                  line=key_node.start_mark.line + 1, key=path or None)
            if key in result:
                raise ConfigError(f"duplicate key {key!r}", file=file,
                                  line=key_node.start_mark.line + 1, key=path or None)
            result[key] = _build(loader, value_node, join_path(path, key), lines, file)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, join_path(path, i), lines, file)
                for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)

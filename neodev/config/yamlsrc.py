"""YAML loading that remembers where each value was, so errors can name the line.

PyYAML's `compose` step gives nodes with `start_mark`; we build plain Python data from the
nodes ourselves (scalars through the safe constructor, so types match `yaml.safe_load`) and keep
a map from dotted key path (`services.postgres.ports[0]`) to 1-based line number.

Building the data ourselves is also where the limits of `neodev.config.limits` apply: PyYAML
would expand an alias bomb into a billion nodes, recurse once per nesting level until
RecursionError, and turn a bad timestamp or a 5,000-digit integer into a bare ValueError.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import yaml

from neodev.config.interpolate import join_path
from neodev.config.limits import (
    MAX_ALIAS_NODES,
    check_depth,
    check_string,
    read_config_text,
)
from neodev.errors import ConfigError

_MERGE_TAG = "tag:yaml.org,2002:merge"


def load_yaml(path: Path, what: str = "YAML file") -> tuple[object, dict[str, int]]:
    """Parse a YAML file.

    Args:
        path: The file.
        what: What it is, for messages ("compose file").

    Returns:
        (data, lines): the data as `yaml.safe_load` would return it, and dotted key path ->
        line number of the value (keys map to the line of their value).

    Raises:
        ConfigError: unreadable file, a limit exceeded (size, nesting, string length, alias
            expansion), YAML syntax error (with line), duplicate keys, a scalar its tag cannot
            construct.
    """
    text = read_config_text(path, what)
    file = str(path)
    loader = _BoundedLoader(text, file)
    builder = _Builder(loader, file)
    try:
        node = loader.get_single_node()
        data = builder.build(node, "", 1) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ConfigError(f"YAML syntax error: {problem or exc}", file=file,
                          line=line) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", file=file) from exc
    finally:
        loader.dispose()
    return data, builder.lines


class _BoundedLoader(yaml.SafeLoader):
    """A SafeLoader whose composer refuses to nest deeper than MAX_DEPTH.

    PyYAML composes recursively, one Python frame or two per level: without this, 500 nested
    `[` end in RecursionError.
    """

    def __init__(self, text: str, file: str) -> None:
        super().__init__(text)
        self.file = file
        self._path: list[object] = []
        """Key or index of each node being composed, outermost first (for messages)."""

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        # PyYAML passes the key node as `index` when composing a mapping value, and the
        # position when composing a list item.
        step = index.value if isinstance(index, yaml.ScalarNode) else index
        self._path.append(step)
        try:
            if self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
                check_depth(len(self._path), file=self.file, key=self._key(),
                            line=self.current_event.start_mark.line + 1)
            return super().compose_node(parent, cast(int, index))  # the stub says int
        finally:
            self._path.pop()

    def _key(self) -> str:
        path = ""
        for step in self._path[1:]:
            path = join_path(path, step) if isinstance(step, str | int) else path
        return path


class _Builder:
    """Plain data from composed nodes, counting what aliases and merge keys re-build."""

    def __init__(self, loader: _BoundedLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.lines: dict[str, int] = {}
        self.seen: set[int] = set()
        """Ids of the nodes built once: building one again is an alias (or merge) expansion."""
        self.expanded = 0
        """Cost of the nodes built again so far, held to MAX_ALIAS_NODES."""
        self.merged: dict[int, int] = {}
        """Mapping node id -> how many of its (flattened) pairs came in through `<<`."""

    def build(self, node: yaml.Node, path: str, depth: int, used_at: int | None = None
              ) -> object:
        """The data of `node` at key path `path`, `depth` collections deep.

        `used_at` is the line of the nearest enclosing node built for the first time: where
        the alias being expanded is written (the node's own line is where its anchor is).
        """
        line = node.start_mark.line + 1
        self.lines[path] = line
        if id(node) in self.seen:
            self._charge(node, path, used_at or line)
        else:
            self.seen.add(id(node))
            used_at = line
        if isinstance(node, yaml.MappingNode):
            check_depth(depth, file=self.file, key=path, line=line)
            return self._mapping(node, path, depth, used_at)
        if isinstance(node, yaml.SequenceNode):
            check_depth(depth, file=self.file, key=path, line=line)
            return [self.build(item, join_path(path, i), depth + 1, used_at)
                    for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self._scalar(node, path, line)

    def _charge(self, node: yaml.Node, path: str, line: int) -> None:
        cost = 1 + len(node.value) // 1024 if isinstance(node, yaml.ScalarNode) else 1
        self.expanded += cost
        if self.expanded > MAX_ALIAS_NODES:
            raise ConfigError(f"aliases expand into more than {MAX_ALIAS_NODES} nodes (the "
                              "limit, MAX_ALIAS_NODES): is this a YAML alias bomb?",
                              file=self.file, line=line, key=path or None)

    def _mapping(self, node: yaml.MappingNode, path: str, depth: int, used_at: int | None
                 ) -> dict[object, object]:
        self._flatten(node, depth)
        merged = self.merged[id(node)]
        result: dict[object, object] = {}
        explicit: set[object] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            key = self._key(key_node, path)
            if index >= merged:
                # Keys written here may override merged ones, but not each other.
                if key in explicit:
                    raise ConfigError(f"duplicate key {key!r}", file=self.file,
                                      line=key_node.start_mark.line + 1, key=path or None)
                explicit.add(key)
            result[key] = self.build(value_node, join_path(path, key), depth + 1, used_at)
        return result

    def _flatten(self, node: yaml.MappingNode, depth: int) -> None:
        """Resolve `<<` merge keys, after the mappings they merge (bounded, unlike PyYAML's)."""
        if id(node) in self.merged:
            return
        self.merged[id(node)] = 0  # first, so a mapping that merges itself ends here
        incoming = 0
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                continue
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else \
                [value_node]
            for source in sources:
                if isinstance(source, yaml.MappingNode):
                    check_depth(depth + 1, file=self.file, line=source.start_mark.line + 1)
                    self._flatten(source, depth + 1)
                    incoming += len(source.value)
        if incoming > MAX_ALIAS_NODES:
            raise ConfigError(f"merge keys copy {incoming} entries into one mapping, more "
                              f"than {MAX_ALIAS_NODES} (the limit, MAX_ALIAS_NODES)",
                              file=self.file, line=node.start_mark.line + 1)
        explicit = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE_TAG)
        self.loader.flatten_mapping(node)
        self.merged[id(node)] = len(node.value) - explicit

    def _key(self, key_node: yaml.Node, path: str) -> object:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            raise ConfigError("mapping keys must be scalars", file=self.file, line=line,
                              key=path or None)
        return self._scalar(key_node, path, line, what="key")

    def _scalar(self, node: yaml.ScalarNode, path: str, line: int, what: str = "string"
                ) -> object:
        check_string(node.value, file=self.file, key=path, line=line, what=what)
        try:
            value: object = self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError) as exc:
            # The safe constructor lets these escape for `2001-13-45`, `!!int x`, and
            # integers longer than Python converts (sys.get_int_max_str_digits).
            raise ConfigError(f"invalid {node.tag.rpartition(':')[2]} {_short(node.value)}: "
                              f"{exc}", file=self.file, line=line, key=path or None) from exc
        return value


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit - 3] + "...")

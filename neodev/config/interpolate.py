"""Variable interpolation exactly as the Compose Specification defines it.

Supported forms (https://docs.docker.com/reference/compose-file/interpolation/):

- `$VAR`, `${VAR}`: the value; unset -> empty string and a warning (as compose does);
- `${VAR:-default}` (unset or empty) and `${VAR-default}` (unset only);
- `${VAR:?message}` and `${VAR?message}`: the value, or a ConfigError carrying the message;
- `${VAR:+alternative}` and `${VAR+alternative}`: the alternative when set (and non-empty);
- nesting inside the operand: `${A:-${B:-x}}`, `${A?$B}`;
- `$$` -> a literal `$`.

A `$` followed by anything that cannot start a variable (a digit, a space, the end) is kept as
is, like compose. A braced expression that is malformed (`${`, `${}`, `${1BAD}`, unterminated,
`${VAR/a/b}`) is an error naming the file, the key path and the template. `@{service:port}`
references are not interpolation and pass through untouched.

Parsing builds a small tree first and evaluates it lazily, so a required-variable check inside
a default that is not used does not fire (as in compose).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from neodev.config.hints import brief
from neodev.config.limits import MAX_DEPTH, depth_problem, length_problem
from neodev.errors import ConfigError

_NAME_START = re.compile(r"[_a-zA-Z]")
_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


@dataclass(frozen=True)
class Where:
    """Where a template comes from, for error messages."""

    file: str | None = None
    key: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class _Var:
    name: str
    operator: str | None = None
    operand: tuple[_Var | str, ...] = ()


@dataclass
class _Parser:
    text: str
    where: Where
    pos: int = 0
    nodes: list[_Var | str] = field(default_factory=list)
    depth: int = 0
    """How many `${...}` enclose the current position."""

    def fail(self, why: str) -> ConfigError:
        return ConfigError(
            f"invalid interpolation {brief(self.text)}: {why}. Valid forms: $VAR, ${{VAR}}, "
            "${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}, "
            "${VAR:+alternative}, ${VAR+alternative}; write $$ for a literal $",
            file=self.where.file, line=self.where.line, key=self.where.key)

    def parse(self, *, in_braces: bool) -> tuple[_Var | str, ...]:
        """Parse up to the end of the text (or the closing brace of an operand)."""
        nodes: list[_Var | str] = []
        literal: list[str] = []
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if in_braces and char == "}":
                break
            if char != "$":
                literal.append(char)
                self.pos += 1
                continue
            nxt = text[self.pos + 1] if self.pos + 1 < len(text) else ""
            if nxt == "$":
                literal.append("$")
                self.pos += 2
            elif nxt == "{":
                self.pos += 2
                nodes.extend(_flush(literal))
                nodes.append(self._braced())
            elif nxt and _NAME_START.match(nxt):
                match = _NAME.match(text, self.pos + 1)
                assert match is not None  # guarded by _NAME_START
                nodes.extend(_flush(literal))
                nodes.append(_Var(match.group()))
                self.pos = match.end()
            else:
                # Not a variable reference: compose keeps the `$` as is.
                literal.append("$")
                self.pos += 1
        nodes.extend(_flush(literal))
        return tuple(nodes)

    def _braced(self) -> _Var:
        self.depth += 1
        try:
            return self._braced_body()
        finally:
            self.depth -= 1

    def _braced_body(self) -> _Var:
        # Nested operands recurse: bound them like any other nesting.
        problem = depth_problem(self.depth)
        if problem:
            raise self.fail(problem)
        text = self.text
        match = _NAME.match(text, self.pos)
        if match is None:
            if self.pos >= len(text):
                raise self.fail("'${' is not closed")
            if text[self.pos] == "}":
                raise self.fail("'${}' names no variable")
            raise self.fail(f"variable names start with a letter or '_', not "
                            f"{text[self.pos]!r}")
        name = match.group()
        self.pos = match.end()
        if self.pos >= len(text):
            raise self.fail(f"'${{{name}' is not closed with '}}'")
        if text[self.pos] == "}":
            self.pos += 1
            return _Var(name)
        operator = next((op for op in _OPERATORS if text.startswith(op, self.pos)), None)
        if operator is None:
            raise self.fail(f"unsupported operator {text[self.pos:self.pos + 2]!r} after "
                            f"{name} (only :- - :? ? :+ + are supported)")
        self.pos += len(operator)
        operand = self.parse(in_braces=True)
        if self.pos >= len(text):
            raise self.fail(f"'${{{name}{operator}...' is not closed with '}}'")
        self.pos += 1  # the closing brace
        return _Var(name, operator, operand)


def _flush(literal: list[str]) -> list[str]:
    if not literal:
        return []
    text = "".join(literal)
    literal.clear()
    return [text]


def _evaluate(nodes: tuple[_Var | str, ...], env: Mapping[str, str], where: Where,
              warnings: list[str] | None) -> str:
    out = _Output(where)
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
            continue
        value = env.get(node.name)
        op = node.operator
        if op is None:
            if value is None:
                if warnings is not None:
                    warnings.append(_warning(node.name, where))
                value = ""
            out.append(value)
            continue
        is_set = value is not None
        usable = is_set if not op.startswith(":") else bool(value)
        base = op[-1]
        if base == "-":
            out.append(value if usable and value is not None else
                       _evaluate(node.operand, env, where, warnings))
        elif base == "+":
            out.append(_evaluate(node.operand, env, where, warnings) if usable else "")
        elif usable and value is not None:  # "?" with a usable value
            out.append(value)
        else:
            message = _evaluate(node.operand, env, where, warnings)
            state = "not set" if not is_set else "empty"
            detail = f": {message}" if message else ""
            raise ConfigError(f"required variable {node.name} is {state}{detail}",
                              file=where.file, line=where.line, key=where.key)
    return out.text()


class _Output:
    """The pieces of an expanded string, refused once longer than MAX_STRING_CHARS.

    `${A}${A}${A}...` with a long A would otherwise build gigabytes from a few kilobytes.
    """

    def __init__(self, where: Where) -> None:
        self.where = where
        self.pieces: list[str] = []
        self.length = 0

    def append(self, piece: str) -> None:
        self.length += len(piece)
        problem = length_problem(self.length, "value after interpolation")
        if problem:
            raise ConfigError(problem, file=self.where.file, line=self.where.line,
                              key=self.where.key)
        self.pieces.append(piece)

    def text(self) -> str:
        return "".join(self.pieces)


def _warning(name: str, where: Where) -> str:
    place = ", ".join(p for p in (where.file, where.key) if p)
    suffix = f" (in {place})" if place else ""
    return f"variable {name} is not set; using an empty string{suffix}"


def interpolate(template: str, env: Mapping[str, str], *, where: Where | None = None,
                warnings: list[str] | None = None) -> str:
    """Expand one string the way compose does.

    Args:
        template: The raw string value.
        env: Variables (unset = absent from the mapping; empty string = set but empty).
        where: File/key/line used in error and warning messages.
        warnings: When given, a message is appended for each unset variable used without a
            default (compose warns and substitutes an empty string).

    Returns:
        The expanded string.

    Raises:
        ConfigError: malformed template, or a `?` variable is missing.
    """
    if "$" not in template:
        return template
    where = where or Where()
    nodes = _Parser(template, where).parse(in_braces=False)
    return _evaluate(nodes, env, where, warnings)


def check_syntax(template: str, where: Where | None = None) -> None:
    """Raise ConfigError if `template` is malformed, without evaluating it."""
    if "$" in template:
        _Parser(template, where or Where()).parse(in_braces=False)


def top_level_variables(template: str) -> list[str]:
    """Names referenced at the top level of a template (not inside defaults), in order."""
    if "$" not in template:
        return []
    nodes = _Parser(template, Where()).parse(in_braces=False)
    return [node.name for node in nodes if isinstance(node, _Var)]


def interpolate_tree(value: object, env: Mapping[str, str], *, file: str | None,
                     path: str = "", lines: Mapping[str, int] | None = None,
                     warnings: list[str] | None = None) -> object:
    """Interpolate every string value of a parsed YAML/TOML tree (keys are left alone).

    Args:
        value: dicts, lists and scalars as a YAML or TOML parser returns them.
        env: The variable environment.
        file: File name for messages.
        path: Dotted key path of `value` itself.
        lines: Optional map dotted key path -> line number, for messages.
        warnings: Collects unset-variable warnings.

    Returns:
        A new tree with the strings expanded.
    """
    if isinstance(value, str):
        line = line_for(lines, path) if lines else None
        return interpolate(value, env, where=Where(file, path or None, line), warnings=warnings)
    if isinstance(value, dict):
        return {k: interpolate_tree(v, env, file=file, path=join_path(path, k), lines=lines,
                                    warnings=warnings) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate_tree(v, env, file=file, path=join_path(path, i), lines=lines,
                                 warnings=warnings) for i, v in enumerate(value)]
    return value


def line_for(lines: Mapping[str, int], key: str) -> int | None:
    """The line of `key`, or of its nearest enclosing key that has one."""
    probe = key
    # Cut one `.name` or `[i]` off the end per step. Bounded: a key may itself hold dots or
    # brackets, and no real path has more components than the nesting limit allows.
    for _ in range(2 * MAX_DEPTH):
        if not probe:
            break
        if probe in lines:
            return lines[probe]
        probe = probe[:max(probe.rfind("."), probe.rfind("["), 0)]
    return None


def join_path(path: str, key: object) -> str:
    """Dotted key path: `services.postgres.ports[0]`."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)

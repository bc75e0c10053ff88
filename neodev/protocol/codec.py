"""JSON and records: the one codec for everything that crosses the control socket.

Every record of the protocol is a frozen standard-library dataclass. `encode` turns one into
JSON-able data (tuples become lists, enums their values, nested records objects) and `decode`
reads it back into the declared type, checking it on the way: a field of the wrong type is a
`ProtocolError` naming its path (`units.0.state`), never a half-built record. Unknown keys are
ignored (a newer peer may add fields); a missing one takes its default, and is an error only
when the field has none.

How a class is read and written is worked out once per class from its type hints and kept, so
the hot paths (thousands of log records a second) pay one dict build per record. A class may
name computed properties to publish alongside its fields (`JSON_PROPERTIES`), e.g. a cluster
report's `ready`; they are written, and ignored when read.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from neodev.jsontypes import JsonObject

R = TypeVar("R")
Decoder = Callable[[Any, str], Any]
JSON_PROPERTIES = "JSON_PROPERTIES"
_ENCODERS: dict[type, Callable[[Any], JsonObject]] = {}
_DECODERS: dict[type, Decoder] = {}
"""How each class is written and read, worked out once (classes are few and live forever)."""


class ProtocolError(ValueError):
    """Data that does not have the shape of the record it should be (names the path)."""


def encode(value: Any) -> Any:
    """`value` as JSON-able data: records as objects, tuples as lists, enums as values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encoder(type(value))(value)
    if isinstance(value, (list, tuple)):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, enum.Enum):
        return value.value
    return value


def decode(cls: type[R], data: Any, path: str = "") -> R:
    """`data` read as a `cls` record.

    Raises:
        ProtocolError: `data` does not fit `cls` (the message names the path and the type).
    """
    result: R = _record_decoder(cls)(data, path)
    return result


def decoder(cls: type[R]) -> Callable[[Any], R]:
    """A one-argument reader of `cls` records (for tables of endpoints and streams); how to
    read the class is worked out at its first use, not when the table is made (a short
    command reads one record of the twenty the table names)."""
    return lambda data: _record_decoder(cls)(data, "")


def _encoder(cls: type) -> Callable[[Any], JsonObject]:
    found = _ENCODERS.get(cls)
    if found is None:
        found = _ENCODERS[cls] = _make_encoder(cls)
    return found


def _make_encoder(cls: type) -> Callable[[Any], JsonObject]:
    hints = typing.get_type_hints(cls)
    names = tuple(f.name for f in dataclasses.fields(cls))
    extra = tuple(getattr(cls, JSON_PROPERTIES, ()))
    if not extra and all(_is_plain(hints[name]) for name in names):
        # The hot path (log records): every value is JSON as it is.
        return lambda record: {name: getattr(record, name) for name in names}
    plain = frozenset(name for name in names if _is_plain(hints[name]))

    def write(record: Any) -> JsonObject:
        data = {}
        for name in names:  # declaration order: what people read in `--json`
            value = getattr(record, name)
            data[name] = value if name in plain else encode(value)
        for name in extra:
            data[name] = encode(getattr(record, name))
        return data
    return write


def _is_plain(hint: Any) -> bool:
    """Whether values of `hint` are JSON as they are (no record, tuple or enum inside)."""
    if hint in (str, int, float, bool, type(None)):
        return True
    if _is_union(hint):
        return all(_is_plain(arg) for arg in typing.get_args(hint))
    return False


def _record_decoder(cls: type) -> Decoder:
    found = _DECODERS.get(cls)
    if found is None:
        found = _DECODERS[cls] = _make_record_decoder(cls)
    return found


def _make_record_decoder(cls: type) -> Decoder:
    if not dataclasses.is_dataclass(cls):
        return _value_decoder(cls)  # a plain type: decode(int, 3)
    hints = typing.get_type_hints(cls)
    fields = [(f.name, _value_decoder(hints[f.name]),
               f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
              for f in dataclasses.fields(cls) if f.init]
    name = cls.__name__

    def read(data: Any, path: str) -> Any:
        if not isinstance(data, dict):
            raise ProtocolError(f"{path or name}: expected an object ({name}), got "
                                f"{type(data).__name__}")
        kwargs = {}
        for key, read_value, required in fields:
            if key in data:
                kwargs[key] = read_value(data[key], f"{path}.{key}" if path else key)
            elif required:
                raise ProtocolError(f"{path + '.' if path else ''}{key}: missing ({name})")
        return cls(**kwargs)
    return read


def _value_decoder(hint: Any) -> Decoder:
    """A reader for values of the type `hint` (a record, tuple, dict, union, enum, plain)."""
    if hint is Any:
        return lambda data, path: data
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return lambda data, path: _record_decoder(hint)(data, path)
    if _is_union(hint):
        return _union_decoder(typing.get_args(hint))
    origin = typing.get_origin(hint)
    if origin in (tuple, list):
        return _sequence_decoder(hint, origin)
    if origin is dict:
        return _mapping_decoder(typing.get_args(hint)[1])
    if origin is typing.Literal:
        return _literal_decoder(typing.get_args(hint))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_decoder(hint)
    if hint in (str, int, float, bool, type(None)):
        return _plain_decoder(hint)
    raise TypeError(f"the protocol codec cannot read {hint!r}")


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _union_decoder(options: tuple[Any, ...]) -> Decoder:
    readers = [_value_decoder(option) for option in options if option is not type(None)]
    optional = type(None) in options

    def read(data: Any, path: str) -> Any:
        if data is None and optional:
            return None
        errors = []
        for reader in readers:
            try:
                return reader(data, path)
            except ProtocolError as exc:
                errors.append(str(exc))
        raise ProtocolError("; ".join(errors))
    return read


def _sequence_decoder(hint: Any, origin: type) -> Decoder:
    args = typing.get_args(hint)
    item = _value_decoder(args[0] if args else Any)

    def read(data: Any, path: str) -> Any:
        if not isinstance(data, list):
            raise ProtocolError(f"{path}: expected a list, got {type(data).__name__}")
        return origin(item(value, f"{path}.{i}") for i, value in enumerate(data))
    return read


def _mapping_decoder(value_hint: Any) -> Decoder:
    item = _value_decoder(value_hint)

    def read(data: Any, path: str) -> Any:
        if not isinstance(data, dict):
            raise ProtocolError(f"{path}: expected an object, got {type(data).__name__}")
        return {str(key): item(value, f"{path}.{key}") for key, value in data.items()}
    return read


def _literal_decoder(values: tuple[Any, ...]) -> Decoder:
    def read(data: Any, path: str) -> Any:
        if data not in values:
            raise ProtocolError(f"{path}: {data!r} is not one of {', '.join(map(repr, values))}")
        return data
    return read


def _enum_decoder(kind: type[enum.Enum]) -> Decoder:
    def read(data: Any, path: str) -> Any:
        try:
            return kind(data)
        except ValueError:
            valid = ", ".join(str(member.value) for member in kind)
            raise ProtocolError(f"{path}: {data!r} is not one of {valid}") from None
    return read


def _plain_decoder(kind: type) -> Decoder:
    accepted: tuple[type, ...] = (int, float) if kind is float else (kind,)

    def read(data: Any, path: str) -> Any:
        # bool is an int in Python, not in JSON: a count is never true or false.
        if not isinstance(data, accepted) or (kind is not bool and isinstance(data, bool)):
            raise ProtocolError(f"{path}: expected {kind.__name__}, got {type(data).__name__}")
        return float(typing.cast(float, data)) if kind is float else data
    return read

"""Did-you-mean suggestions for unknown names in configuration errors."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`" (did you mean 'x'?)"` for the closest choice, or `""` when nothing is close."""
    matches = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def unsupported(key: object, supported: Iterable[str], what: str) -> str:
    """Message for a key neodev refuses: names it, suggests, and lists what is supported."""
    supported = list(supported)
    return (f"neodev does not support {what} {key!r}{did_you_mean(str(key), supported)} "
            f"(supported: {', '.join(supported)}; `x-*` extension keys are ignored)")


def brief(value: object, limit: int = 80) -> str:
    """`repr(value)`, cut to about `limit` characters: messages quote values, some are huge."""
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit]  # cut first: the repr of a megabyte is a megabyte
    shown = repr(value)
    return shown if len(shown) <= limit else shown[:limit - 3] + "..."

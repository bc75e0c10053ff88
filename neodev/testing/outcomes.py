"""What a test process made once — and what failed, so that it is not tried again.

Loading the profile, connecting to the engine, starting a service, migrating the template:
each is tried once per process. A value is kept; so is a NeodevError, and every later test
that needs it fails at once with the same reason instead of waiting out another timeout (500
tests against a missing image fail in seconds, not in 500 timeouts).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from neodev.errors import NeodevError

T = TypeVar("T")


class Outcomes:
    """Values and failures by key, for one test process."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._errors: dict[str, NeodevError] = {}

    def once(self, key: str, make: Callable[[], T]) -> T:
        """The value made for `key`: `make()` the first time, or the error it raised then.

        Raises:
            NeodevError: what `make` raised, now or the first time.
        """
        if key in self._errors:
            raise self._errors[key]
        if key not in self._values:
            try:
                self._values[key] = make()
            except NeodevError as e:
                self._errors[key] = e
                raise
        return cast(T, self._values[key])

    def get(self, key: str) -> Any:
        """The value made for `key`, None when none was (yet, or it failed)."""
        return self._values.get(key)

    def tried(self, key: str) -> bool:
        """Whether `key` was made or failed."""
        return key in self._values or key in self._errors

    def forget(self, key: str) -> Any:
        """Drop the value of `key` (a closed connection: the next use makes a new one)."""
        return self._values.pop(key, None)

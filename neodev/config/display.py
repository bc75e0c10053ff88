"""The plan as JSON-able data for people: every secret masked.

Two layers of masking: values under secret-looking keys (PASSWORD|SECRET|TOKEN|KEY, via
`model.mask_secrets`), and secret values that reappear inside other strings — a password
embedded in a `DATABASE_URL`, a token in a command line — plus the password part of any
`scheme://user:password@host` URL.
"""

from __future__ import annotations

import re
from typing import Any

from neodev.config.model import MASK, EnvironmentPlan, is_secret_key, mask_secrets

# `scheme://user:password@`: the password is masked. Linear in the length of the text, which
# the obvious `[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:[^@\s/]+(?=@)` is not: every position
# inside a long run of letters started a scan to the end of the run (a 128 KiB line took 15 s).
# Here a match can start only where a run of scheme characters starts (the lookbehind), and the
# possessive runs never give back characters, so each character is examined a bounded number
# of times. It masks exactly what the obvious pattern masks: a scheme may start at any letter
# of such a run, and the mask keeps everything before the password anyway.
_URL_PASSWORD = re.compile(
    r"(?<![a-zA-Z0-9+.-])"               # the start of a run of scheme characters,
    r"(?P<head>[0-9+.-]*+[a-zA-Z][a-zA-Z0-9+.-]*+://"  # holding a letter, then ://
    r"[^/\s:@]*+:)"                      # the user name and its colon,
    r"[^@\s/]++(?=@)")                   # the password, up to the @
# Only strings in these places are searched for embedded secret values: masking every string
# would mangle image names and paths when a password is a common word.
_SEARCHED = {"environment", "env", "variables", "command", "entrypoint", "build", "url", "test"}
_MIN_SECRET_LENGTH = 4


def secret_values(plan: EnvironmentPlan) -> list[str]:
    """Values of secret-looking variables and env entries, longest first."""
    found: set[str] = set()
    maps = [plan.variables, *(c.environment for c in plan.containers.values()),
            *(p.env for p in plan.processes.values())]
    for mapping in maps:
        found.update(v for k, v in mapping.items()
                     if is_secret_key(k) and len(v) >= _MIN_SECRET_LENGTH)
    return sorted(found, key=len, reverse=True)


def mask_text(text: str, secrets: list[str]) -> str:
    """`text` with URL passwords and any of `secrets` replaced by the mask.

    Time is linear in the length of `text` (for each secret) and memory a small multiple of
    it: output lines come from programs neodev does not control.
    """
    if "://" in text:  # the pattern needs it: a line without it skips the regex (~3 µs)
        text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def _walk(value: object, secrets: list[str], searched: bool) -> object:
    if isinstance(value, dict):
        return {k: _walk(v, secrets, searched or k in _SEARCHED) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, secrets, searched) for v in value]
    if isinstance(value, str) and searched:
        return mask_text(value, secrets)
    return value


def mask_all(value: object, secrets: list[str]) -> object:
    """A copy of a JSON-like structure (a container's inspect, a report's parts) with every
    string masked as `mask_text` masks a line, and every value under a secret-looking key, or
    of a `KEY=value` entry whose key looks secret (an environment list), replaced by the mask.
    """
    return mask_strings(mask_secrets(_key_values(value)), secrets)


def mask_strings(value: object, secrets: list[str]) -> object:
    """A copy of a JSON-like structure with every string masked as `mask_text` masks a line
    (keys and the types of other values untouched)."""
    return _walk(value, secrets, searched=True)


def _key_values(value: object) -> object:
    """`KEY=value` strings with a secret-looking key masked, anywhere in `value`."""
    if isinstance(value, dict):
        return {k: _key_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_key_values(v) for v in value]
    if isinstance(value, str) and "=" in value:
        key, _, rest = value.partition("=")
        if rest and is_secret_key(key) and " " not in key:
            return f"{key}={MASK}"
    return value


def plan_for_display(plan: EnvironmentPlan) -> dict[str, Any]:
    """The plan as a JSON-able dict with every secret masked (for `neodev config`)."""
    data = plan.model_dump(mode="json")
    masked = mask_secrets(data)
    assert isinstance(masked, dict)
    result = _walk(masked, secret_values(plan), searched=False)
    assert isinstance(result, dict)
    return result

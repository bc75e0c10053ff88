"""Secrets masked, once for every output: the plan shown to people, and any text.

What is a secret (`secret_values`): every value that came from a secret source — the variables
the profile declares (`[project] secrets`) or the generated `.neodev/secrets.env` holds
(`EnvironmentPlan.secret_names`), the values of credential-like keys (`model.is_secret_key`:
`DB_PASSWORD`, `DB_PASS`, `API_CREDENTIALS`, `AUTH`...), and the password of a URL's userinfo in
any variable or environment value (`scheme://user:password@host`), as written and decoded.

How a text is masked (`mask_text`): a URL's password by its place, whatever its length; a
secret value wherever it appears once it has SUBSTRING_SECRET_CHARS characters, and a shorter
one of at least MIN_SECRET_CHARS only where it stands alone (not inside a longer word).
`mask_line` masks an output line and bounds it, never leaving the beginning of a secret at a
cut. Every frontend and store masks here: the daemon's log store (and with it status reasons,
probe details, log files, Loki), unit details and `neodev config` (`plan_for_display`), the
agent server, the pytest plugin's failure evidence. The one deliberate exception is the
connection string the dashboard copies (`c`): a person asked for it.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import unquote

from neodev.config.model import MASK, EnvironmentPlan, is_secret_key, mask_secrets
from neodev.jsontypes import JsonObject

MIN_SECRET_CHARS = 3
"""Shorter values are not masked by value. A value of one or two characters occurs by chance in
nearly every line, even as a word of its own (`a`, `ok`, `no`, `id`, `1`): masking it would
blank out ordinary output while hiding nothing one could not guess in a few thousand tries
(62² = 3,844). Such a secret is still masked where its place says what it is: a URL's password,
the value of a secret key in the configuration and the unit details."""
SUBSTRING_SECRET_CHARS = 4
"""From this length a secret value is masked wherever it appears, also inside a longer word
(a token glued to a prefix, a password inside a connection string). A three-character value
(`dev`, `pw1`) is masked only where it stands alone: inside words it would mangle `neodev`,
`device`, `pwd`."""

# `scheme://user:password@`: the password is masked. Linear in the length of the text, which
# the obvious `[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:[^@\s/]+(?=@)` is not: every position
# inside a long run of letters started a scan to the end of the run (a 128 KiB line took 15 s).
# Here a match can start only where a run of scheme characters starts (the lookbehind), and the
# possessive runs never give back characters, so each character is examined a bounded number
# of times. It masks exactly what the obvious pattern masks: a scheme may start at any letter
# of such a run, and the mask keeps everything before the password anyway.
_URL_HEAD = (r"(?<![a-zA-Z0-9+.-])"               # the start of a run of scheme characters,
             r"(?P<head>[0-9+.-]*+[a-zA-Z][a-zA-Z0-9+.-]*+://"  # holding a letter, then ://
             r"[^/\s:@]*+:)")                     # the user name and its colon,
_URL_PASSWORD = re.compile(_URL_HEAD + r"(?P<password>[^@\s/]++)(?=@)")  # up to the @
_URL_PASSWORD_CUT = re.compile(_URL_HEAD + r"[^@\s/]++\Z")
"""A URL's password that a cut ended before its `@`."""
_CUT_MARK = re.compile(r" … \[neodev: \d+ more [a-z ]+ not kept\]\Z")
"""The mark a cut line ends with (the drivers' line splitter, the log store's bound)."""
# Only strings in these places are searched for embedded secret values: masking every string
# would mangle image names and paths when a password is a common word.
_SEARCHED = {"environment", "env", "variables", "command", "entrypoint", "build", "url", "test"}


def secret_values(plan: EnvironmentPlan) -> list[str]:
    """Every value from a secret source (see the module's docstring) of at least
    MIN_SECRET_CHARS characters, longest first (the order `mask_text` needs)."""
    found = {plan.variables.get(name, "") for name in plan.secret_names}
    maps = [plan.variables, *(c.environment for c in plan.containers.values()),
            *(p.env for p in plan.processes.values())]
    for mapping in maps:
        for key, value in mapping.items():
            if is_secret_key(key):
                found.add(value)
            if "://" in value:
                found.update(url_passwords(value))
    return sorted((v for v in found if len(v) >= MIN_SECRET_CHARS), key=len, reverse=True)


def url_passwords(text: str) -> set[str]:
    """The passwords of the URLs in `text`, as written and percent-decoded."""
    written = {m.group("password") for m in _URL_PASSWORD.finditer(text)}
    return written | {unquote(password) for password in written}


def mask_text(text: str, secrets: list[str]) -> str:
    """`text` with URL passwords and any of `secrets` (longest first) replaced by the mask.

    Time is linear in the length of `text` (for each secret) and memory a small multiple of
    it: output lines come from programs neodev does not control.
    """
    if "://" in text:  # the pattern needs it: a line without it skips the regex (~3 µs)
        text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    for secret in secrets:
        if secret not in text:
            continue
        if len(secret) >= SUBSTRING_SECRET_CHARS:
            text = text.replace(secret, MASK)
        else:
            text = _standing_alone(secret).sub(MASK, text)
    return text


@functools.lru_cache(maxsize=64)
def _standing_alone(secret: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])")


def mask_line(line: str, secrets: list[str], limit: int) -> str:
    """One output line masked (`mask_text`) and at most `limit` characters long, with no
    secret's beginning left at a cut.

    A line that arrives cut (the drivers' splitter keeps a line's first bytes and marks the
    rest dropped) may end in the first characters of a secret or of a URL's password; so may a
    line cut here to `limit`, after masking (so a secret is never cut before it is seen whole).
    Those characters are masked too. The result fits in `limit`, its mark included.
    """
    mark = ""
    if line.endswith(" not kept]") and (found := _CUT_MARK.search(line)):
        line, mark = line[:found.start()], found.group()
    line = mask_text(line, secrets)
    if mark:
        line = _mask_cut_end(line, secrets)
    if len(line) + len(mark) <= limit:
        return line + mark
    # Cut here (a splitter's mark, if any, gives way to this one): room for the kept text, a
    # mask at its end and the mark.
    room = max(limit - len(_cut_mark(len(line))) - len(MASK), 0)
    return _mask_cut_end(line[:room], secrets) + _cut_mark(len(line) - room)


def _cut_mark(dropped: int) -> str:
    return f" … [neodev: {dropped} more characters not kept]"


def _mask_cut_end(text: str, secrets: list[str]) -> str:
    """`text` (cut) with the beginning of a secret or of a URL's password at its end masked."""
    if "://" in text:
        text = _URL_PASSWORD_CUT.sub(lambda m: m.group("head") + MASK, text)
    cut = max((length for secret in secrets for length in range(len(secret) - 1, 0, -1)
               if text.endswith(secret[:length])), default=0)  # the longest beginning there
    return text[:-cut] + MASK if cut else text


def _walk(value: object, secrets: list[str], exact: set[str], searched: bool) -> object:
    if isinstance(value, dict):
        return {k: _walk(v, secrets, exact, searched or k in _SEARCHED)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, secrets, exact, searched) for v in value]
    if isinstance(value, str) and searched:
        return MASK if value in exact else mask_text(value, secrets)
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
    return _walk(value, secrets, set(), searched=True)


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


def plan_for_display(plan: EnvironmentPlan) -> JsonObject:
    """The plan as a JSON-able dict with every secret masked (for `neodev config` and unit
    details): values under secret keys and of the profile's secret variables whatever their
    length, and secret values inside the other strings."""
    data = plan.model_dump(mode="json")
    masked = mask_secrets(data)
    assert isinstance(masked, dict)
    # A value that is a secret source's, whole, is masked at any length: no word can be
    # mangled by it (`env.X = "${DB_PASS}"` with a short password).
    exact = {plan.variables[n] for n in plan.secret_names if plan.variables.get(n)}
    for name, value in masked.get("variables", {}).items():
        if name in plan.secret_names and value:
            masked["variables"][name] = MASK
    result = _walk(masked, secret_values(plan), exact, searched=False)
    assert isinstance(result, dict)
    return result

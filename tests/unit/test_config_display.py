"""Masking secrets in text: the same results as the obvious regex, in linear time and memory.

The daemon masks every output line of every unit with `mask_text`, and `neodev config` every
command and environment value, so it meets lines neodev does not control. The obvious pattern
for `scheme://user:password@` (kept below as the reference) backtracks quadratically: a 128 KiB
line took about 15 s, a megabyte hours.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import textwrap

import pytest

from neodev.config.display import mask_text
from neodev.config.model import MASK
from tests.constants import REPO_ROOT

REFERENCE = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)[^@\s/]+(?=@)")
"""The pattern `mask_text` used to have: right, but quadratic on long lines."""


def _reference(text: str, secrets: list[str]) -> str:
    text = REFERENCE.sub(lambda m: m.group("head") + MASK, text)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


@pytest.mark.parametrize(("text", "expected"), [
    ("postgresql://app:pw@127.0.0.1:5432/db", f"postgresql://app:{MASK}@127.0.0.1:5432/db"),
    ("redis://:pw@h/0", f"redis://:{MASK}@h/0"),
    ("jdbc:postgresql://u:p@h/db", f"jdbc:postgresql://u:{MASK}@h/db"),
    ("a://u:p@h b://v:q@i", f"a://u:{MASK}@h b://v:{MASK}@i"),
    ("1a://u:p@h", f"1a://u:{MASK}@h"),         # the scheme starts at the first letter
    ("1://u:p@h", "1://u:p@h"),                   # no letter, no scheme
    ("http://host/path:x@y", "http://host/path:x@y"),  # no user part before the path
    ("http://u:p w@h", "http://u:p w@h"),          # whitespace ends the password
    ("see http://u:@h", "see http://u:@h"),        # an empty password stays empty
    ("x" * 100, "x" * 100),
])
def test_url_passwords(text: str, expected: str) -> None:
    assert mask_text(text, []) == expected == _reference(text, [])


def test_secret_values_are_masked_after_urls() -> None:
    text = "token=hunter22 db=postgres://u:hunter22@h"
    assert mask_text(text, ["hunter22"]) == f"token={MASK} db=postgres://u:{MASK}@h"


def test_same_results_as_the_reference_on_random_text() -> None:
    """Seeded random lines over the characters the patterns care about."""
    rng = random.Random(7)
    alphabet = "aZ9+.-:/@ \t\u00a0\u2028xé"
    for _ in range(50_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        if rng.random() < 0.5:
            text = text.replace("a", "a://", 1)
        if rng.random() < 0.3:
            text = text.replace(":", "://u:p@", 1)
        # Values of 4+ characters, which are masked wherever they appear, as the reference
        # does (a shorter one only where it stands alone: tests/unit/test_secrets_everywhere.py)
        assert mask_text(text, ["u:p@", "aZ9+"]) == _reference(text, ["u:p@", "aZ9+"]), text


# Each line is 1 MiB. The old pattern needs minutes to hours for every one of them.
_SCRIPT = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))
    from neodev.config.display import mask_text
    n = 1 << 20
    shapes = {
        "letters": "a" * n,
        "digits then scheme": "1" * (n - 8) + "a://u:p@",
        "scheme prefixes": "a://" * (n // 4),
        "colons": "a://x:" + ":" * (n - 6),
        "user run": "a://" + "u" * (n - 4),
        "password run": "a://u:" + "p" * (n - 6),
        "many urls": "postgres://user:secretpw@host/db " * (n // 33),
        "at signs": "a://u:p" + "@" * (n - 7),
        "mixed": "ab+.-1:/" * (n // 8),
    }
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sizes = {}
    for name, line in shapes.items():
        sizes[name] = len(mask_text(line, ["secretpw", "hunter22"]))
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(json.dumps({"sizes": sizes, "grown_kib": grown}))
""")


def test_masking_megabyte_lines_is_fast_and_small() -> None:
    """Run in a subprocess with a timeout: the old pattern would be killed, not waited for."""
    result = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=REPO_ROOT, timeout=20,
                            capture_output=True, text=True, check=False,
                            env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["sizes"]["letters"] == 1 << 20
    assert report["sizes"]["password run"] == 1 << 20  # no @: nothing to mask
    assert report["sizes"]["at signs"] == (1 << 20) - 1 + len(MASK)
    # Memory: the input is 1 MiB; a few copies and the match objects, never the line squared.
    assert report["grown_kib"] < 64 * 1024, report

"""Programs the tests and benchmarks hand to neodev as a user's processes (run by path)."""

from pathlib import Path

WEB = str(Path(__file__).with_name("web.py"))
"""A small HTTP app: `python WEB --help`."""

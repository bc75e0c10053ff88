"""The report file's edges: what is not a report is refused by name, a zip bomb is not
unpacked, the lines' shares are fair, and the inspect masking covers environment lists."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from neodev.config.display import mask_all
from neodev.entry import report_file
from neodev.errors import ReportError
from neodev.report import archive
from neodev.report.archive import _fair_shares, read_archive


def _zip(path: Path, parts: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name, text in parts.items():
            out.writestr(name, text)
    return path


def test_what_is_not_a_report_is_refused_saying_why(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ReportError, match="is not a readable neodev report"):
        read_archive(text)
    with pytest.raises(ReportError, match=r"has no manifest\.json"):
        read_archive(_zip(tmp_path / "a.zip", {"x.json": "{}"}))
    other = {"format": "neodev-report", "version": 99, "neodev": "9", "created_at": 0,
             "workspace": "/w", "profile": "local", "project": "p", "instance": "i"}
    with pytest.raises(ReportError, match="version 99; this neodev reads"):
        read_archive(_zip(tmp_path / "b.zip", {"manifest.json": json.dumps(other)}))
    broken = {**other, "version": 1}
    with pytest.raises(ReportError, match=r"status\.json is not what a report holds"):
        read_archive(_zip(tmp_path / "c.zip", {"manifest.json": json.dumps(broken),
                                               "status.json": '{"units": 3}'}))


def test_a_report_that_unpacks_beyond_the_limit_is_not_unpacked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "READ_LIMIT", 1000)
    bomb = _zip(tmp_path / "bomb.zip", {"manifest.json": " " * 5000})
    assert bomb.stat().st_size < 1000
    with pytest.raises(ReportError, match="unpacks to more than"):
        read_archive(bomb)


def test_units_that_need_less_than_a_share_leave_the_rest_to_the_others() -> None:
    assert _fair_shares({"a": 10, "b": 1000, "c": 1000}, 900) == {"a": 10, "b": 445, "c": 445}
    assert _fair_shares({"a": 10, "b": 20}, 900) == {"a": 10, "b": 20}
    assert _fair_shares({"a": 10}, 0) == {"a": 0}


def test_an_inspect_is_masked_by_key_by_value_and_in_environment_lists() -> None:
    inspect = {"Config": {"Env": ["POSTGRES_PASSWORD=pw", "POSTGRES_USER=neotool",
                                  "DATABASE_URL=postgres://u:other-pw@db/x"],
                          "Cmd": ["postgres", "-c", "password=long-secret"],
                          "Labels": {"api_token": "t"}},
               "State": {"Pid": 42, "Running": True}}
    masked = mask_all(inspect, ["long-secret"])
    assert masked == {"Config": {"Env": ["POSTGRES_PASSWORD=********", "POSTGRES_USER=neotool",
                                         "DATABASE_URL=postgres://u:********@db/x"],
                                 "Cmd": ["postgres", "-c", "password=********"],
                                 "Labels": {"api_token": "********"}},
                      "State": {"Pid": 42, "Running": True}}


@pytest.mark.parametrize(("args", "expected"), [
    (["--report", "r.zip"], "r.zip"), (["--report=r.zip"], "r.zip"),
    (["open-report", "r.zip"], "r.zip"), (["report", "-o", "r.zip"], None), ([], None),
])
def test_the_dashboard_opens_a_report_when_asked(args: list[str], expected: str | None) -> None:
    assert report_file(args) == expected

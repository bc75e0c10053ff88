"""ReloadCoalescer: any number of batches during a reload -> exactly one more reload."""

from __future__ import annotations

from neodev.process.coalesce import ReloadCoalescer


def test_first_batch_starts_a_reload() -> None:
    c = ReloadCoalescer()
    assert c.submit(["a"]) is True
    assert c.begin() == ["a"]
    assert c.running
    assert c.finish() is None
    assert not c.running


def test_batches_during_a_reload_become_one_more_reload() -> None:
    c = ReloadCoalescer()
    c.submit(["a"])
    c.begin()
    for i in range(10):
        assert c.submit([f"f{i}", "a"]) is False
    again = c.finish()
    assert again == sorted({"a", *(f"f{i}" for i in range(10))})
    assert c.running
    assert c.finish() is None
    assert not c.running


def test_empty_batch_starts_nothing() -> None:
    assert ReloadCoalescer().submit([]) is False

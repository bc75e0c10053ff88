"""The routing mechanism's own bounds and streams: request bodies nested no deeper than a
configuration file may be, and NDJSON streams that send what is ready in one write."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from neodev.config.limits import MAX_DEPTH
from neodev.daemon.routing import NDJSON_BATCH, _ndjson_chunks
from neodev.engine.events import StreamEnded
from tests.api.scripted import plan_of, process, scripted
from tests.supervisor.vclock import virtual_time


def nested(depth: int, inner: str = "[]") -> str:
    """A JSON object whose `units` list holds lists `depth` levels deep in all."""
    return '{"units": ' + "[" * (depth - 2) + inner + "]" * (depth - 2) + "}"


@virtual_time
async def test_a_deeply_nested_body_is_a_422_naming_the_limit(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, process("db", tmp_path))
    async with scripted(tmp_path, plan) as s:
        http = s.client._http
        for body in ("[" * 100_000 + "]" * 100_000,  # past the parser's recursion: was a 500
                     "[" * 100_000,  # and never closed
                     nested(MAX_DEPTH + 1)):  # parsed, but deeper than a profile may be
            answer = await http.post("/v1/start", content=body,
                                     headers={"content-type": "application/json"})
            assert answer.status_code == 422, answer.text[:200]
            error = answer.json()["error"]
            assert error["type"] == "RequestError" and error["param"] == "body"
            assert f"nesting deeper than {MAX_DEPTH} levels" in error["message"]
            assert "MAX_DEPTH" in error["message"]
        answer = await http.post("/v1/start", content=nested(MAX_DEPTH),
                                 headers={"content-type": "application/json"})
        assert answer.status_code == 422  # within the bound: validation speaks, not the bound
        assert "nesting" not in answer.json()["error"]["message"]
        assert s.runners["db"].starts == 0


async def _items(count: int, then: BaseException | None = None) -> AsyncIterator[dict[str, Any]]:
    for n in range(count):
        yield {"n": n, "path": Path("/x") if n == 0 else None}
    if then is not None:
        raise then
    await asyncio.Event().wait()  # a follower: more would come


def _as_is(item: object) -> object:
    """The endpoint's writer, for items that are JSON already."""
    return item


def test_what_is_ready_goes_out_in_one_write() -> None:
    async def run() -> list[bytes]:
        chunks = _ndjson_chunks(_items(3, StreamEnded()), _as_is)
        return [chunk async for chunk in chunks]
    chunks = asyncio.run(run())
    assert chunks == [b'{"n":0,"path":"/x"}\n{"n":1,"path":null}\n{"n":2,"path":null}\n']


def test_a_slow_reader_gets_bounded_batches() -> None:
    async def run() -> list[int]:
        chunks = _ndjson_chunks(_items(NDJSON_BATCH * 2 + 5, StreamEnded()), _as_is)
        return [chunk.count(b"\n") async for chunk in chunks]
    assert asyncio.run(run()) == [NDJSON_BATCH, NDJSON_BATCH, 5]


def test_an_error_of_the_items_reaches_the_stream_after_what_came_before() -> None:
    async def run() -> list[bytes]:
        got = []
        with pytest.raises(RuntimeError, match="boom"):
            async for chunk in _ndjson_chunks(_items(2, RuntimeError("boom")), _as_is):
                got.append(chunk)
        return got
    assert asyncio.run(run()) == [b'{"n":0,"path":"/x"}\n{"n":1,"path":null}\n']


def test_closing_the_stream_ends_the_items() -> None:
    ended = asyncio.Event()

    async def items() -> AsyncIterator[dict[str, Any]]:
        try:
            yield {"n": 1}
            await asyncio.Event().wait()
        finally:
            ended.set()

    async def run() -> None:
        chunks = _ndjson_chunks(items(), _as_is)
        assert await anext(chunks) == b'{"n":1}\n'
        await chunks.aclose()  # the client went away
        await asyncio.wait_for(ended.wait(), 1)
    asyncio.run(run())

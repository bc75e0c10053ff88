"""The daemon API's one routing mechanism: routes declared once, validated, served, documented.

Each `Route` binds one endpoint of `neodev.protocol.endpoints` (method, path, parameters, the
record it answers — declared once, for the server and the clients) to its handler and the
pydantic models of its inputs: path parameters, query parameters and the JSON body. From those
declarations alone, `build_app`
- validates every request before the handler runs: a bad input is a 422 `RequestError`
  naming the parameter (`limit`, `units.0`, `path.name`), so nothing runs or streams for it;
- serves the routes with Starlette, errors as data (`{"error": NeodevError.to_dict()}`);
- publishes the OpenAPI document at `/openapi.json`, generated from the same models, so what
  is documented (and fuzzed, tests/api/test_api_fuzz.py) cannot drift from what is validated.

Why not FastAPI: for some twenty routes it cost the idle daemon over 10 MiB of RSS, most of it
pydantic schemas it builds at import and per route for its OpenAPI models. Here the document
is built on its first request only. The contract clients know is kept as FastAPI shaped it:
a body is read as JSON when its content type says JSON (a malformed one is `N: JSON decode
error`, N its position), the first failing input is the one reported, an unknown path or
method is `{"detail": "Not Found"}` / `{"detail": "Method Not Allowed"}`, answers are
serialised by pydantic (non-finite floats become null).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import to_json
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route as StarletteRoute

from neodev.config.limits import MAX_DEPTH, depth_problem
from neodev.engine.events import StreamEnded
from neodev.errors import NeodevError, RequestError
from neodev.jsontypes import JsonObject
from neodev.protocol.endpoints import Endpoint

log = logging.getLogger("neodev.daemon")

Handler = Callable[..., Awaitable[Any]]
JSON_TYPE = "application/json"
NDJSON_TYPE = "application/x-ndjson"
UNNAMED = ("body", "query")
"""Locations left out of a parameter's name: a body field or query parameter is named by
itself (`units.0`, `limit`), a path parameter as `path.name`."""
NO_BODY = object()
"""An empty body (JSON `null` is a body, and not an object)."""


@dataclass(frozen=True)
class Route:
    """One endpoint of `neodev.protocol.endpoints` served: its handler and input models.

    The handler is called with the validated models of the inputs the route declares, as
    keyword arguments of the same names (`path_params=`, `query=`, `body=`), and answers the
    endpoint's record — for a streaming endpoint, an async iterator of its items — which the
    endpoint's own writer turns into JSON. The models' fields must be exactly the parameters
    the endpoint declares (checked when the route is made), so the clients, which build their
    requests from the same declaration, cannot drift from what is validated.
    """

    endpoint: Endpoint[Any]
    handler: Handler
    path_params: type[BaseModel] | None = None
    """One field per `{parameter}` of the path."""
    query: type[BaseModel] | None = None
    """One field per query parameter; a list field takes every occurrence (`unit=a&unit=b`),
    any other the last one. Unknown parameters are ignored."""
    body: type[BaseModel] | None = None
    """The JSON body (required when declared)."""

    def __post_init__(self) -> None:
        declared = {"path": set(re.findall(r"{(\w+)}", self.endpoint.path)),
                    "query": set(self.endpoint.query), "body": set(self.endpoint.body)}
        modelled = {where: set(model.model_fields) if model is not None else set()
                    for where, model in (("path", self.path_params), ("query", self.query),
                                         ("body", self.body))}
        for where, names in declared.items():
            if names != modelled[where]:
                raise TypeError(f"{self.method} {self.path}: the {where} parameters "
                                f"{sorted(modelled[where])} differ from the endpoint's "
                                f"{sorted(names)} (neodev/protocol/endpoints.py)")

    @property
    def method(self) -> str:
        return self.endpoint.method

    @property
    def path(self) -> str:
        return self.endpoint.path


def build_app(routes: Sequence[Route], *, title: str, version: str) -> Starlette:
    """The Starlette app serving `routes` and their OpenAPI document at `/openapi.json`."""
    document: JsonObject = {}

    async def openapi(_: Request) -> Response:
        if not document:
            document.update(openapi_document(routes, title=title, version=version))
        return json_response(document)

    served = [_OneMethodRoute(r.path, _endpoint(r), r.method) for r in routes]
    return Starlette(routes=[_OneMethodRoute("/openapi.json", openapi, "GET"), *served],
                     exception_handlers={NeodevError: _neodev_error,
                                         HTTPException: _http_error,
                                         Exception: _unexpected})


def json_response(content: Any, status: int = 200) -> Response:
    """`content` as JSON, serialised by pydantic (paths, tuples, enums as JSON; NaN as null)."""
    return Response(to_json(content), status_code=status, media_type=JSON_TYPE)


NDJSON_BATCH = 1000
"""Most lines of an NDJSON stream gathered into one write while the client is slower."""


def ndjson_response(items: AsyncIterator[Any], write: Callable[[Any], Any]) -> StreamingResponse:
    """An NDJSON stream of `items`, each written as JSON by `write` (the endpoint's writer) and
    serialised as `json_response` does, one per line; ends cleanly when the daemon shuts down
    (`StreamEnded`).

    What is ready at once goes out in one write: a follower of a log flood would otherwise cost
    the daemon one ASGI message and one socket write per line (most of the daemon's time per
    line). The items are drawn by a task of their own into a buffer of at most NDJSON_BATCH
    lines: while the client reads slowly, what waits beyond that stays in the subscription's
    bounded queue, which says when the client fell behind.
    """
    return StreamingResponse(_ndjson_chunks(items, write), media_type=NDJSON_TYPE)


async def _ndjson_chunks(items: AsyncIterator[Any], write: Callable[[Any], Any]
                         ) -> AsyncIterator[bytes]:
    lines: list[bytes] = []
    ready = asyncio.Event()
    """Set when `lines` has something or the items ended."""
    room = asyncio.Event()
    room.set()
    ended: list[BaseException | None] = []

    async def draw() -> None:
        try:
            async for item in items:
                lines.append(to_json(write(item), fallback=str) + b"\n")
                ready.set()
                if len(lines) >= NDJSON_BATCH:
                    room.clear()
                    await room.wait()
        except StreamEnded:
            ended.append(None)  # the daemon is shutting down: end the stream cleanly
        except Exception as exc:  # raised where the stream is written, as before
            ended.append(exc)
        else:
            ended.append(None)
        finally:
            ready.set()

    drawer = asyncio.create_task(draw())
    try:
        while True:
            if not lines and not ended:
                await ready.wait()
                ready.clear()
            if lines:
                chunk = b"".join(lines)
                lines.clear()
                room.set()
                yield chunk
            elif ended:
                if ended[0] is not None:
                    raise ended[0]
                return
    finally:
        drawer.cancel()
        await asyncio.gather(drawer, return_exceptions=True)


class _OneMethodRoute(StarletteRoute):
    """A Starlette route answering exactly its declared method: Starlette adds HEAD to every
    GET route, which would open a stream only to drop its body."""

    def __init__(self, path: str, endpoint: Callable[[Request], Awaitable[Response]],
                 method: str) -> None:
        super().__init__(path, endpoint, methods=[method])
        self.methods = {method}


def _endpoint(route: Route) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        # The body is read first: a malformed one is reported before any other input.
        raw = await _json_body(request) if route.body is not None else NO_BODY
        args: dict[str, BaseModel] = {}
        if route.path_params is not None:
            args["path_params"] = _validate(route.path_params, request.path_params, "path")
        if route.query is not None:
            args["query"] = _validate(route.query, _query_values(route.query,
                                                                 request.query_params), "query")
        if route.body is not None:
            if raw is NO_BODY:
                raise _invalid(("body",), "Field required")
            args["body"] = _validate(route.body, raw, "body")
        answer = await route.handler(**args)
        if route.endpoint.stream:
            return ndjson_response(answer, route.endpoint.write)
        return json_response(route.endpoint.write(answer), route.endpoint.status)
    return endpoint


async def _json_body(request: Request) -> Any:
    """The body as JSON when the content type says JSON, else its bytes (which validation then
    refuses); NO_BODY when it is empty.

    Raises:
        RequestError: malformed JSON, or nested deeper than the configuration files may be
            (`neodev.config.limits.MAX_DEPTH`): the parser, validation and serialisation all
            recurse once per level, and `[[[[…` would end in a RecursionError (a 500).
    """
    raw = await request.body()
    if not raw:
        return NO_BODY
    if not _is_json(request.headers.get("content-type", "")):
        return raw
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise _invalid(("body", exc.pos), "JSON decode error") from None
    except RecursionError:  # the parser has no bound of its own below Python's stack
        body = None
        problem = depth_problem(MAX_DEPTH + 1)
    except ValueError:  # not UTF-8 text at all
        raise HTTPException(400, "There was an error parsing the body") from None
    else:
        problem = _nesting_problem(body)
    if problem is not None:
        raise RequestError(f"body: {problem}", param="body")
    return body


def _nesting_problem(value: Any) -> str | None:
    """Why a parsed body nests too deeply (as a configuration file may not), or None."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            problem = depth_problem(depth)
            if problem is not None:
                return problem
            stack.extend((child, depth + 1)
                         for child in (node.values() if isinstance(node, dict) else node))
    return None


def _is_json(content_type: str) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    main, _, sub = mime.partition("/")
    return mime.count("/") == 1 and main == "application" and (
        sub == "json" or sub.endswith("+json"))


def _query_values(model: type[BaseModel], params: QueryParams) -> JsonObject:
    values: JsonObject = {}
    for name, field in model.model_fields.items():
        if _is_list(field.annotation):
            if found := params.getlist(name):
                values[name] = found
        elif name in params:
            values[name] = params[name]
    return values


def _is_list(annotation: Any) -> bool:
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) \
        else (annotation,)
    return any(get_origin(option) is list for option in options)


def _validate(model: type[BaseModel], values: Any, where: str) -> BaseModel:
    try:
        # from_attributes: a body that is not an object is refused with the same message
        # whatever it is (a list, a number, bytes of another content type).
        return model.model_validate(values, from_attributes=True)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise _invalid((where, *first["loc"]), first["msg"]) from None


def _invalid(loc: Iterable[str | int], message: str) -> RequestError:
    where = ".".join(str(part) for part in loc if part not in UNNAMED)
    return RequestError(f"{where or 'request'}: {message}", param=where or None)


async def _neodev_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, NeodevError)
    return json_response({"error": exc.to_dict()}, exc.http_status)


async def _http_error(_: Request, exc: Exception) -> Response:
    """Routing's own answers (no such path, method or readable body)."""
    assert isinstance(exc, HTTPException)
    return Response(to_json({"detail": exc.detail}), status_code=exc.status_code,
                    headers=exc.headers, media_type=JSON_TYPE)


async def _unexpected(_: Request, exc: Exception) -> Response:
    log.exception("unexpected error in the API", exc_info=exc)
    error = NeodevError(f"the daemon failed unexpectedly: {exc!r} (see .neodev/daemon.log)")
    return json_response({"error": error.to_dict()}, 500)


# -- the OpenAPI document ---------------------------------------------------------------------

ERROR_SCHEMA: JsonObject = {
    "type": "object", "required": ["error"],
    "description": "An error as data: the NeodevError's type, title, message, exit code and "
                   "its own fields (a RequestError names the parameter).",
    "properties": {"error": {
        "type": "object", "required": ["type", "title", "message", "exit_code"],
        "additionalProperties": True,
        "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                       "message": {"type": "string"}, "exit_code": {"type": "integer"}}}},
}
REF = "#/components/schemas/{model}"


def openapi_document(routes: Iterable[Route], *, title: str, version: str) -> JsonObject:
    """OpenAPI 3.1 for `routes`: parameters and bodies are their models' JSON schemas."""
    schemas: JsonObject = {"Error": ERROR_SCHEMA}
    paths: dict[str, JsonObject] = {}
    for route in routes:
        operation: JsonObject = {
            "operationId": route.handler.__name__,
            "summary": (route.handler.__doc__ or route.handler.__name__).strip().splitlines()[0],
            "parameters": [*_parameters(route.path_params, "path", schemas),
                           *_parameters(route.query, "query", schemas)],
            "responses": {
                str(route.endpoint.status): {
                    "description": "an NDJSON stream, one object per line"
                    if route.endpoint.stream else "a JSON object",
                    "content": {NDJSON_TYPE if route.endpoint.stream else JSON_TYPE: {}}},
                "422": {"description": "an invalid input (RequestError), before anything ran",
                        "content": {JSON_TYPE: {"schema": {"$ref": REF.format(model="Error")}}}},
            },
        }
        if route.body is not None:
            operation["requestBody"] = {"required": True, "content": {JSON_TYPE: {
                "schema": _schema(route.body, schemas)}}}
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {"openapi": "3.1.0", "info": {"title": title, "version": version}, "paths": paths,
            "components": {"schemas": schemas}}


def _schema(model: type[BaseModel], schemas: JsonObject) -> JsonObject:
    """A reference to `model`'s JSON schema, which is added (with its definitions) to
    `schemas`."""
    schema = model.model_json_schema(ref_template=REF)
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


def _parameters(model: type[BaseModel] | None, where: str,
                schemas: JsonObject) -> list[JsonObject]:
    if model is None:
        return []
    schema = model.model_json_schema(ref_template=REF)
    schemas.update(schema.pop("$defs", {}))
    required = set(schema.get("required", ()))
    return [{"name": name, "in": where, "required": where == "path" or name in required,
             "schema": prop} for name, prop in schema["properties"].items()]


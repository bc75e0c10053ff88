"""The agent server's tools, declared once, and their adaption to the MCP SDK.

`TOOLS` names every tool with its title and MCP annotations (read-only, destructive,
idempotent; none reaches beyond this machine's environment, so none is open-world). `adapt`
turns a tool function into what the SDK registers, the same way for all of them:

- the input schema is the function's parameters (less the context);
- the output schema is its record type's, read by pydantic from the dataclass (the field
  docstrings become descriptions), and the SDK checks every answer against it;
- the answer is the record written by the protocol's codec, masked, both as structured
  content and as its JSON text (the spec's advice for clients that read only text);
- a `NeodevError` becomes a tool error with the error's title and message, masked — never a
  traceback. Bad arguments are refused by the SDK from the schema, naming what is valid.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import ConfigDict, RootModel

from neodev.errors import NeodevError
from neodev.mcp import action_tools as act
from neodev.mcp import read_tools as read
from neodev.mcp.context import AgentContext
from neodev.protocol.codec import encode

ToolFunction = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class ToolSpec:
    """One tool: its function (name, parameters, docstring, record type) and annotations."""

    fn: ToolFunction
    title: str
    read_only: bool = False
    destructive: bool = False
    """May remove or replace something (a process, containers, data): not only additive."""
    idempotent: bool = False

    @property
    def name(self) -> str:
        return self.fn.__name__

    def annotations(self) -> ToolAnnotations:
        return ToolAnnotations(title=self.title, read_only_hint=self.read_only,
                               destructive_hint=self.destructive,
                               idempotent_hint=self.idempotent, open_world_hint=False)


def _reads(fn: ToolFunction, title: str) -> ToolSpec:
    return ToolSpec(fn, title, read_only=True, idempotent=True)


TOOLS: tuple[ToolSpec, ...] = (
    _reads(read.status, "Environment status"),
    _reads(read.unit_details, "Unit details"),
    _reads(read.wait_ready, "Wait until ready"),
    _reads(read.search_logs, "Search logs"),
    _reads(read.startup_timeline, "Startup timeline"),
    _reads(read.observability_urls, "Observability URLs"),
    _reads(read.db_list_snapshots, "List database snapshots"),
    _reads(read.instances, "Instances on this machine"),
    ToolSpec(act.start, "Start units", idempotent=True),
    ToolSpec(act.stop, "Stop units", destructive=True, idempotent=True),
    ToolSpec(act.restart_unit, "Restart a unit", destructive=True),
    ToolSpec(act.reload_unit, "Reload a unit", destructive=True),
    ToolSpec(act.db_take_snapshot, "Take a database snapshot"),
    ToolSpec(act.db_restore_snapshot, "Restore a database snapshot", destructive=True),
    ToolSpec(act.down, "Tear the environment down", destructive=True, idempotent=True),
)
"""Every tool, read-only ones first (`--read-only` offers only those)."""


def register(server: MCPServer[Any], ctx: AgentContext, *, read_only: bool = False) -> None:
    """Add the tools to `server` (only the read-only ones with `read_only`)."""
    for spec in TOOLS:
        if read_only and not spec.read_only:
            continue
        server.add_tool(adapt(spec.fn, ctx), name=spec.name, title=spec.title,
                        description=inspect.getdoc(spec.fn), annotations=spec.annotations(),
                        structured_output=True)


def adapt(fn: ToolFunction, ctx: AgentContext) -> Callable[..., Awaitable[CallToolResult]]:
    """`fn(ctx, **arguments) -> record` as an SDK tool: `(**arguments) -> CallToolResult`."""
    signature = inspect.signature(fn, eval_str=True)

    async def tool(**arguments: Any) -> CallToolResult:
        await ctx.ready()
        try:
            record = await fn(ctx, **arguments)
        except NeodevError as error:
            raise ToolError(ctx.masker.text(f"{error.title}: {error.message}")) from None
        data = ctx.masker.data(encode(record))
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return CallToolResult(content=[TextContent(type="text", text=text)],
                              structured_content=data)

    tool.__name__ = fn.__name__
    tool.__doc__ = fn.__doc__
    tool.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=list(signature.parameters.values())[1:],
        return_annotation=Annotated[CallToolResult, output_model(signature.return_annotation)])
    return tool


@functools.cache
def output_model(record: type) -> type[RootModel[Any]]:
    """The pydantic model the SDK derives a tool's output schema from, and checks its answers
    against: the record's dataclass itself (a root model, so the schema is the record's own
    object), with the field docstrings as descriptions."""
    model: type[RootModel[Any]] = type(record.__name__, (RootModel[record],), {  # type: ignore[valid-type]
        "model_config": ConfigDict(use_attribute_docstrings=True), "__module__": __name__})
    return model

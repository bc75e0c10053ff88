"""The one name for untyped JSON: where it may appear, and why nowhere else.

Inside neodev, data travels as typed records (`neodev.protocol`, the configuration's models).
A `JsonObject` is a JSON object at a boundary, before it is read into a record or after a record
was written out: a body on the control socket, a state file, the Docker engine's or kubectl's
JSON answer, a Kubernetes manifest, a raw profile or compose document, an OpenAPI schema.
"""

from typing import Any

JsonObject = dict[str, Any]
"""A JSON object as it comes off (or goes onto) a wire, a file or an external tool."""

"""Make sure a container's image is present locally: look it up, else pull it with progress.

`containers.create` never pulls (reference §2), so this runs first. Pull progress is reported
line by line, skipping the byte counters, and a failed pull names the image and the variable
that overrides it, because the usual fix is pointing that variable at a local image.
"""

from __future__ import annotations

from collections.abc import Callable

from docker import DockerClient
from docker.errors import APIError, ImageNotFound
from docker.utils import parse_repository_tag

from neodev.errors import ImageUnavailableError
from neodev.jsontypes import JsonObject
from neodev.timing import Deadline

Progress = Callable[[str], None]


def ensure_image(client: DockerClient, image: str, variable: str | None,
                 progress: Progress, pull_timeout: float | None = None) -> str:
    """Return the local image id of `image`, pulling it first when it is missing.

    Args:
        client: a docker client (this call blocks: run it on a thread).
        image: the image reference ("postgres:18-alpine").
        variable: the environment variable that overrides the image, for the error message.
        progress: receives one human-readable line per pull step.
        pull_timeout: seconds the pull may take (None: as long as it progresses). Checked
            between progress events; a silent registry is bounded by the client's own
            request timeout.

    Raises:
        ImageUnavailableError: the image is missing and cannot be pulled (in time).
    """
    try:
        return str(client.images.get(image).id)
    except ImageNotFound:
        pass  # not local: pull it below
    progress(f"image {image} not found locally, pulling")
    repo, tag = parse_repository_tag(image)
    deadline = Deadline(pull_timeout)
    try:
        last: dict[str, str] = {}
        for event in client.api.pull(repo, tag or "latest", stream=True, decode=True):
            if "error" in event:
                raise _pull_failed(image, variable, str(event["error"]))
            if deadline.passed:
                # Leaving the loop closes the stream; the engine may finish the pull anyway.
                raise _pull_failed(image, variable,
                                   f"the pull took longer than {pull_timeout:g} s")
            line = _progress_line(event, last)
            if line:
                progress(line)
        return str(client.images.get(image).id)
    except (APIError, ImageNotFound) as e:
        raise _pull_failed(image, variable, e.explanation or str(e)) from e


def _progress_line(event: JsonObject, last: dict[str, str]) -> str | None:
    """One line per layer status change; byte-count updates ("Downloading") are dropped."""
    status = str(event.get("status", ""))
    layer = str(event.get("id", ""))
    if event.get("progressDetail") and status in ("Downloading", "Extracting"):
        return None
    if layer and last.get(layer) == status:
        return None
    if layer:
        last[layer] = status
    return f"{layer}: {status}" if layer else status or None


def _pull_failed(image: str, variable: str | None, detail: str) -> ImageUnavailableError:
    hint = (f"Set {variable} to an image that exists locally (see `docker image ls`), or make "
            "the registry reachable." if variable else
            "Build or load it locally (see `docker image ls`), or make the registry reachable.")
    return ImageUnavailableError(f"Image {image!r} is not available locally and pulling it "
                                 f"failed: {detail.strip()}. {hint}", image=image)

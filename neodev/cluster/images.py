"""Which app images the mirror builds, from which context and Dockerfile, under which tag.

Images are tagged with a digest of their build context (not `:latest`, which kind re-pulls even
after a load), so an unchanged app keeps its tag and its pods are not restarted on reconcile,
and a changed one rolls out. They are pushed to the local registry as
`localhost:<registry_port>/neotool-<app>:<tag>`. The Dockerfile is `<context>/Dockerfile` when the
app has one, else the example workspace's `profiles/k8s/images/<app>/Dockerfile`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from neodev.config.model import ClusterSpec
from neodev.errors import ConfigError

DEFAULT_IMAGES = {"backend": "backend", "frontend": "frontend", "router": "router"}
BASE_IMAGE_PREFIX = "neotool/"
"""The manifests name the app images `neotool/<app>`; the local layer rewrites these."""
SKIPPED_DIRS = frozenset({".git", "node_modules", "__pycache__", ".gradle", "build", ".next",
                          "dist", ".venv", ".pytest_cache", ".neodev"})
MAX_CONTEXT_FILES = 50_000
TAG_LENGTH = 12


@dataclass(frozen=True)
class ImageBuild:
    """One app image to build and push."""

    app: str
    context: Path
    dockerfile: Path
    ref: str
    """Full reference pods use, e.g. `localhost:5001/neotool-backend:3f2a9c0d1b2e`."""

    @property
    def base_name(self) -> str:
        """The image name in the manifests that this build replaces."""
        return BASE_IMAGE_PREFIX + self.app


def context_digest(context: Path, dockerfile: Path) -> str:
    """A short sha256 over the relative paths and contents of the context and the Dockerfile.

    Dependency and build output directories (SKIPPED_DIRS) are left out: they do not go into a
    well-formed image and would make the tag churn.

    Raises:
        ConfigError: the context has more than MAX_CONTEXT_FILES files (probably the wrong dir).
    """
    digest = hashlib.sha256()
    count = 0
    for root, dirs, files in os.walk(context):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in sorted(files):
            path = Path(root, name)
            count += 1
            if count > MAX_CONTEXT_FILES:
                raise ConfigError(f"build context {context} has more than {MAX_CONTEXT_FILES} "
                                  "files; point cluster.images at the app directory",
                                  key="cluster.images")
            digest.update(path.relative_to(context).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() if path.is_file() else b"")
    digest.update(dockerfile.read_bytes())
    return digest.hexdigest()[:TAG_LENGTH]


def neotool_root(variables: dict[str, str], workspace: Path, profile_file: Path) -> Path:
    """NEOTOOL_ROOT from the plan's variables, relative paths resolved against the workspace.

    Raises:
        ConfigError: NEOTOOL_ROOT is not set or is not a directory.
    """
    raw = variables.get("NEOTOOL_ROOT")
    if not raw:
        raise ConfigError("NEOTOOL_ROOT is not set; the cluster builds the app images from it "
                          "(set it in .env, e.g. NEOTOOL_ROOT=examples/neotool-mini)",
                          file=str(profile_file), key="NEOTOOL_ROOT")
    root = Path(raw) if Path(raw).is_absolute() else workspace / raw
    if not root.is_dir():
        raise ConfigError(f"NEOTOOL_ROOT={raw} is not a directory ({root})",
                          file=str(profile_file), key="NEOTOOL_ROOT")
    return root


def plan_images(spec: ClusterSpec, root: Path, k8s_dir: Path,
                profile_file: Path) -> list[ImageBuild]:
    """The image builds for `spec.images` (default: backend, frontend, router dirs of root).

    Args:
        spec: the cluster section (images: app -> context relative to NEOTOOL_ROOT).
        root: NEOTOOL_ROOT.
        k8s_dir: profiles/k8s (where the fallback Dockerfiles live).
        profile_file: named in errors.

    Raises:
        ConfigError: a context directory or a Dockerfile does not exist.
    """
    builds: list[ImageBuild] = []
    for app, relative in sorted((spec.images or DEFAULT_IMAGES).items()):
        context = (root / relative).resolve()
        if not context.is_dir():
            raise ConfigError(f"build context {context} does not exist (valid: a directory "
                              f"under NEOTOOL_ROOT={root})", file=str(profile_file),
                              key=f"cluster.images.{app}")
        dockerfile = context / "Dockerfile"
        if not dockerfile.is_file():
            dockerfile = k8s_dir / "images" / app / "Dockerfile"
        if not dockerfile.is_file():
            raise ConfigError(f"no Dockerfile for {app}: neither {context}/Dockerfile nor "
                              f"{dockerfile}", file=str(profile_file), key=f"cluster.images.{app}")
        tag = context_digest(context, dockerfile)
        ref = f"localhost:{spec.registry_port}/neotool-{app}:{tag}"
        builds.append(ImageBuild(app, context, dockerfile, ref))
    return builds

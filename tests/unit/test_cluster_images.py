"""App images for the mirror: which Dockerfile, which context, which tag; the example
workspace's Dockerfiles are multi-stage, non-root and copy files that exist.

(No real `docker build` here: the python base image cannot be pulled on this machine.)
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from neodev.cluster.images import context_digest, neotool_root, plan_images
from neodev.config.model import ClusterSpec
from neodev.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S = REPO_ROOT / "profiles/k8s"
EXAMPLE = REPO_ROOT / "examples/neotool-mini"
SPEC = ClusterSpec(environment="staging", cluster_name="neodev-staging",
                   overlay=K8S / "overlays/staging", app_namespace="neotool-staging",
                   registry_port=5001)


@pytest.mark.parametrize("app", ["backend", "frontend", "router"])
def test_example_dockerfiles_are_multi_stage_non_root_and_copy_existing_files(app):
    text = (K8S / "images" / app / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\w+))?", text, re.MULTILINE)
    assert len(stages) >= 2 and stages[0][1] == "build"
    final = text[text.rindex("\nFROM "):]
    assert re.search(r"^USER 10001:10001$", final, re.MULTILINE)
    assert "COPY --from=build" in final
    assert "NEODEV_BIND_HOSTS=0.0.0.0" in final  # the demo apps bind loopback by default
    assert not re.search(r":latest\b", text)
    for sources in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.MULTILINE):
        for source in sources.split():
            assert (EXAMPLE / app / source).exists(), (app, source)


def test_plan_images_uses_example_dockerfiles_and_content_tags():
    builds = plan_images(SPEC, EXAMPLE, K8S, Path("profiles/staging.toml"))
    assert [b.app for b in builds] == ["backend", "frontend", "router"]
    for build in builds:
        assert build.dockerfile == K8S / "images" / build.app / "Dockerfile"
        assert re.fullmatch(rf"localhost:5001/neotool-{build.app}:[0-9a-f]{{12}}", build.ref)
        assert build.base_name == f"neotool/{build.app}"


def test_tag_changes_with_the_code_and_ignores_build_output(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(EXAMPLE / "frontend", app)
    dockerfile = K8S / "images/frontend/Dockerfile"
    first = context_digest(app, dockerfile)
    (app / "node_modules").mkdir()
    (app / "node_modules" / "x.js").write_text("junk")
    assert context_digest(app, dockerfile) == first
    (app / "server.py").write_text((app / "server.py").read_text() + "\n# edit\n")
    assert context_digest(app, dockerfile) != first


def test_own_dockerfile_wins(tmp_path):
    for app in ("backend", "frontend", "router"):
        (tmp_path / app).mkdir()
    (tmp_path / "backend" / "Dockerfile").write_text("FROM scratch\n")
    builds = {b.app: b for b in plan_images(SPEC, tmp_path, K8S, Path("p.toml"))}
    assert builds["backend"].dockerfile == tmp_path / "backend" / "Dockerfile"


def test_errors_name_the_key():
    with pytest.raises(ConfigError, match="NEOTOOL_ROOT"):
        neotool_root({}, REPO_ROOT, Path("profiles/staging.toml"))
    spec = SPEC.model_copy(update={"images": {"api": "nope"}})
    with pytest.raises(ConfigError, match=r"cluster\.images\.api"):
        plan_images(spec, EXAMPLE, K8S, Path("profiles/staging.toml"))

"""Dockerfiles and cloudbuild.yaml, checked as far as possible without a Docker engine or
Cloud Build: every COPY source exists in its build context, installs come from the lock,
images run as a non-root user, and the delivery steps call commands this project has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.main import get_command

from pipelines.cli import app
from tests.conftest import REPO

# Dockerfile -> its build context (as cloudbuild.yaml and the Dockerfile comments build them)
DOCKERFILES = {
    REPO / "images" / "pipeline.Dockerfile": REPO,
    REPO / "images" / "trainer-gpu.Dockerfile": REPO,
    REPO / "serving" / "Dockerfile": REPO / "serving",
}


def instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if " " in ln else "") for ln in lines]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_dockerfile_copies_existing_sources_and_installs_from_the_lock(dockerfile):
    context = DOCKERFILES[dockerfile]
    steps = instructions(dockerfile)
    copies = [args.split() for op, args in steps if op == "COPY" and "--from" not in args]
    assert copies
    for parts in copies:
        for source in parts[:-1]:
            assert (context / source).exists(), f"{dockerfile.name}: COPY source {source} missing in {context}"
    runs = " ".join(args for op, args in steps if op == "RUN")
    syncs = re.findall(r"uv sync[^&;]*", runs)
    assert syncs and all("--frozen" in s for s in syncs), syncs  # the lock, never a re-resolve
    assert (context / "uv.lock").exists()
    for install in re.findall(r"pip install[^&;]*", runs):
        assert re.search(r"uv==\d", install), f"only uv itself may be pip-installed: {install}"
    users = [args for op, args in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"


def test_gpu_image_installs_the_gpu_extra_and_the_lock_has_it():
    runs = " ".join(a for op, a in instructions(REPO / "images" / "trainer-gpu.Dockerfile") if op == "RUN")
    assert "--extra gpu" in runs
    assert 'name = "nvidia-cudnn-cu12"' in (REPO / "uv.lock").read_text()


def test_cloudbuild_steps_use_real_files_and_commands():
    build = yaml.safe_load((REPO / "cloudbuild.yaml").read_text())
    steps = {s["id"]: s for s in build["steps"]}
    assert steps["test"]["args"][-1].endswith("make test")
    scripts = "\n".join(s["args"][-1] for s in build["steps"])
    for dockerfile in re.findall(r"-f (\S+)", scripts):
        assert (REPO / dockerfile).exists(), dockerfile
    commands = get_command(app).commands
    for sub in re.findall(r"taxi-pipeline \$?(\w[\w-]*)", scripts):
        if sub != "verb":
            assert sub in commands, f"cloudbuild.yaml calls `taxi-pipeline {sub}`, which does not exist"
    compile_line = next(ln for ln in scripts.splitlines() if "taxi-pipeline compile" in ln)
    assert "--image-tag $SHORT_SHA" in compile_line and "--image-registry $_IMAGE_REGISTRY" in compile_line
    assert "--target vertex" in scripts and "model_registry=$_MODEL_REGISTRY" in scripts
    for name in re.findall(r"\$(_[A-Z_]+)", scripts):
        assert name in build["substitutions"], f"{name} is used but has no default substitution"

"""Dockerfiles and cloudbuild.yaml, checked as far as possible without a Docker engine or
Cloud Build: every COPY source exists in its build context and is sent by the context's
.dockerignore, installs come from the lock, images run as a non-root user, local path
dependencies land where the lock expects them, and the delivery steps build the images the
compiled pipeline names and call commands this project has (the delivery script itself runs
in tests/test_cloudbuild_delivery.py)."""

from __future__ import annotations

import posixpath
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml
from typer.main import get_command

from components.images import images_for
from pipelines.cli import app
from tests.conftest import REPO

# Dockerfile -> its build context (as cloudbuild.yaml and the Dockerfile comments build them)
DOCKERFILES = {
    REPO / "images" / "pipeline.Dockerfile": REPO,
    REPO / "images" / "trainer-gpu.Dockerfile": REPO,
    REPO / "serving" / "Dockerfile": REPO,
}
# Dockerfile -> the project (pyproject.toml + uv.lock) it installs
PROJECTS = {
    REPO / "images" / "pipeline.Dockerfile": REPO,
    REPO / "images" / "trainer-gpu.Dockerfile": REPO,
    REPO / "serving" / "Dockerfile": REPO / "serving",
}
IDS = [str(p.relative_to(REPO)) for p in DOCKERFILES]


def instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if " " in ln else "") for ln in lines]


def copies(dockerfile: Path) -> list[tuple[list[str], str, str]]:
    """(sources, destination, WORKDIR at that point) of each COPY from the build context."""
    out, workdir = [], "/"
    for op, args in instructions(dockerfile):
        if op == "WORKDIR":
            workdir = posixpath.join(workdir, args.strip())
        if op == "COPY" and "--from" not in args:
            parts = [p for p in shlex.split(args) if not p.startswith("--")]
            out.append((parts[:-1], parts[-1], workdir))
    return out


def dockerignore(dockerfile: Path, context: Path) -> list[str]:
    """BuildKit reads <Dockerfile>.dockerignore beside the Dockerfile, else the context's own."""
    for path in (dockerfile.with_name(dockerfile.name + ".dockerignore"), context / ".dockerignore"):
        if path.exists():
            lines = [ln.strip() for ln in path.read_text().splitlines()]
            return [ln for ln in lines if ln and not ln.startswith("#")]
    return []


def _pattern(pattern: str) -> re.Pattern:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def ignored(patterns: list[str], rel: str) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents decides."""
    parts = rel.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for raw in patterns:
        negated = raw.startswith("!")
        regex = _pattern(posixpath.normpath(raw.lstrip("!").strip("/")))
        if any(regex.match(c) for c in candidates):
            excluded = not negated
    return excluded


def sent_files(context: Path, source: str) -> list[Path]:
    """The files a COPY source names (a file, a directory or a glob), without bytecode."""
    matches = sorted(context.glob(source)) if any(c in source for c in "*?[") else [context / source]
    files = []
    for match in matches:
        found = [match] if match.is_file() else [p for p in match.rglob("*") if p.is_file()]
        files += [p for p in found if "__pycache__" not in p.parts and p.suffix != ".pyc"]
    return files


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=IDS)
def test_dockerfile_copies_existing_sources_sent_by_the_dockerignore(dockerfile):
    context = DOCKERFILES[dockerfile]
    patterns = dockerignore(dockerfile, context)
    steps = copies(dockerfile)
    assert steps
    for sources, _, _ in steps:
        for source in sources:
            files = sent_files(context, source)
            assert files, f"{dockerfile.name}: COPY source {source} matches nothing in {context}"
            left_out = [str(f.relative_to(context)) for f in files if ignored(patterns, str(f.relative_to(context)))]
            assert not left_out, f"{dockerfile.name}: COPY {source}: the .dockerignore leaves out {left_out}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=IDS)
def test_dockerfile_installs_from_the_lock_and_runs_as_non_root(dockerfile):
    steps = instructions(dockerfile)
    runs = " ".join(args for op, args in steps if op == "RUN")
    syncs = re.findall(r"uv sync[^&;]*", runs)
    assert syncs and all("--frozen" in s for s in syncs), syncs  # the lock, never a re-resolve
    project = PROJECTS[dockerfile]
    assert (project / "uv.lock").exists()
    copied = {posixpath.basename(s) for sources, _, _ in copies(dockerfile) for s in sources}
    assert {"pyproject.toml", "uv.lock"} <= copied
    for install in re.findall(r"pip install[^&;]*", runs):
        assert re.search(r"uv==\d", install), f"only uv itself may be pip-installed: {install}"
    users = [args for op, args in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"


def test_serving_image_installs_the_contracts_where_its_lock_expects_them():
    """serving/pyproject.toml names ../contracts as a path source: the image must put the
    contracts' pyproject.toml and modules at that path relative to the serving project."""
    dockerfile = REPO / "serving" / "Dockerfile"
    sources = tomllib.loads((REPO / "serving" / "pyproject.toml").read_text())["tool"]["uv"]["sources"]
    paths = {name: src["path"] for name, src in sources.items() if "path" in src}
    assert paths, "serving/pyproject.toml has no local path source"
    steps = copies(dockerfile)
    project_dir = next(workdir for sources_, _, workdir in steps if "serving/pyproject.toml" in sources_)
    for name, rel in paths.items():
        target = posixpath.normpath(posixpath.join(project_dir, rel))
        here = (REPO / "serving" / rel).resolve().relative_to(REPO)
        sent = {
            posixpath.basename(f)
            for sources_, dest, workdir in steps
            if posixpath.normpath(posixpath.join(workdir, dest)) == target
            for s in sources_
            for f in map(str, sent_files(REPO, s))
        }
        needed = {p.name for p in (REPO / here).iterdir() if p.suffix == ".py" or p.name == "pyproject.toml"}
        assert needed <= sent, f"{name}: {target} in the image lacks {sorted(needed - sent)}"


def test_gpu_image_installs_the_gpu_extra_and_the_lock_has_it():
    runs = " ".join(a for op, a in instructions(REPO / "images" / "trainer-gpu.Dockerfile") if op == "RUN")
    assert "--extra gpu" in runs
    assert 'name = "nvidia-cudnn-cu12"' in (REPO / "uv.lock").read_text()


def cloudbuild() -> tuple[dict, str]:
    """The build and its step scripts, continuation lines joined."""
    build = yaml.safe_load((REPO / "cloudbuild.yaml").read_text())
    return build, re.sub(r"\\\n\s*", " ", "\n".join(s["args"][-1] for s in build["steps"]))


def test_cloudbuild_steps_use_real_files_and_commands():
    build, scripts = cloudbuild()
    steps = {s["id"]: s for s in build["steps"]}
    tools = "TOFU_HOME=/workspace/.tools/opentofu"  # built by the go-tools step, found by make test
    assert steps["test"]["args"][-1] == f"make test {tools}"
    assert steps["go-tools"]["name"].startswith("golang:") and steps["go-tools"]["args"][-1] == (
        f"make terraform-go-tools {tools}"
    )
    assert list(steps).index("go-tools") < list(steps).index("test")
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^terraform-go-tools: \$\(TOFU\) \$\(TOOLS\)/bin/schema-stand-in", makefile, re.M)
    commands = get_command(app).commands
    calls = re.findall(r"\btabml \$?(\w[\w-]*)", scripts)
    assert "compile" in calls
    for sub in calls:  # submit/schedule are run in tests/test_cloudbuild_delivery.py
        assert sub in commands, f"cloudbuild.yaml calls `tabml {sub}`, which does not exist"
    assert "taxi-pipeline" not in scripts
    compile_line = next(ln for ln in scripts.splitlines() if "tabml compile" in ln)
    assert "--image-tag $SHORT_SHA" in compile_line and "--image-registry $_IMAGE_REGISTRY" in compile_line
    assert "--target vertex" in scripts and "model_registry=$_MODEL_REGISTRY" in scripts
    for name in set(re.findall(r"\$(_[A-Z_]+)", scripts)):
        assert name in build["substitutions"], f"{name} is used but has no default substitution"
    config = build["substitutions"]["_CONFIG"]
    assert (REPO / config).is_file() and config.startswith("examples/"), config


def test_cloudbuild_builds_the_images_the_pipeline_names_from_their_contexts():
    _, scripts = cloudbuild()
    builds = re.findall(r"docker build -f (\S+) -t (\S+) (\S+)", scripts)
    assert {REPO / f for f, _, _ in builds} == set(DOCKERFILES), builds
    tags = {REPO / f: tag for f, tag, _ in builds}
    for dockerfile, _, context in builds:
        assert (REPO / context).resolve() == DOCKERFILES[REPO / dockerfile], f"{dockerfile} built from {context}"
    images = images_for("$_IMAGE_REGISTRY", "$SHORT_SHA")
    assert tags[REPO / "images" / "pipeline.Dockerfile"] == images.cpu
    assert tags[REPO / "images" / "trainer-gpu.Dockerfile"] == images.gpu
    assert tags[REPO / "serving" / "Dockerfile"] == "$_IMAGE_REGISTRY/tabml-serving:$SHORT_SHA"
    for tag in tags.values():
        assert f"docker push {tag}" in scripts

"""The project's structure: the import layers hold (import-linter, configured in
pyproject.toml), the tool itself knows nothing of the sample dataset, and every executor has
the one shape `run(config, inputs, outputs)` with frozen Inputs/Outputs dataclasses."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLES, REPO

# ------------------------------------------------------------------ import layers


def test_import_contracts_are_kept():
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert contracts
    lint_imports = Path(sys.executable).parent / "lint-imports"
    env = os.environ | {"PYTHONPATH": "serving"}  # the predictor and rollout packages live in serving/
    done = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {len(contracts)} kept, 0 broken." in done.stdout, done.stdout
    for contract in contracts:
        assert f"{contract['name']} KEPT" in done.stdout


# ------------------------------------------------------------------ no sample dataset in the tool

# Words only one example's data would bring into the code: its subject, label and model.
SAMPLE_WORDS = ("taxi", "tipper", "penguin", "species", "adelie", "miles_per_gallon", "auto_mpg")
# The tool: what gets installed, built, deployed and run for any dataset.
TOOL = [
    "contracts",
    "components",
    "pipelines",
    "serving",
    "images",
    "terraform",
    "cloudbuild.yaml",
    "Makefile",
    "pyproject.toml",
]
NOT_TOOL = ["serving/uv.lock", "tests/serving/fixtures"]


def example_names() -> set[str]:
    """How the tool may refer to an example: its directory name or its pipeline_name."""
    names = set()
    for config in EXAMPLES.glob("*/config.yaml"):
        names |= {config.parent.name, yaml.safe_load(config.read_text())["pipeline_name"]}
    return names


def tool_files() -> list[str]:
    """Tracked files and new ones git does not ignore (no venvs, caches, build outputs)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *TOOL],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    return sorted({f for f in listed if f and (REPO / f).is_file() and not f.startswith(tuple(NOT_TOOL))})


def test_the_tool_does_not_mention_the_sample_dataset():
    """Allowed: examples/, compiled/ (named after an example's pipeline_name), docs about the
    examples and tests, none of which is searched; in the tool, an example's own directory
    (serving/manifests/examples/<pipeline_name>/) and a reference to an example by its name
    (the default `examples/chicago_taxi/config.yaml`) are allowed, as pointers to the examples."""
    names = example_names()
    reference = re.compile(
        r"(?<![\w-])(?:" + "|".join(map(re.escape, sorted(names, key=len, reverse=True))) + r")(?![\w-])"
    )
    offending = []
    for rel in tool_files():
        parts = Path(rel).parts
        if any(a == "examples" and b in names for a, b in zip(parts, parts[1:], strict=False)):
            continue  # an example's own deployment files
        try:
            lines = (REPO / rel).read_text().splitlines()
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(lines, 1):
            # Docs may show an example's request; code and build files name no dataset at all.
            words = SAMPLE_WORDS if not rel.endswith(".md") else SAMPLE_WORDS[:1]
            if any(word in reference.sub("", line).lower() for word in words):
                offending.append(f"{rel}:{number}: {line.strip()[:160]}")
    assert not offending, f"{len(offending)} line(s) of the tool mention the sample dataset:\n" + "\n".join(offending)


def test_the_sample_grep_sees_the_tool():
    files = tool_files()
    for expected in (
        "contracts/config.py",
        "components/pusher/executor.py",
        "pipelines/cli.py",
        "serving/rollout/isvc.py",
        "cloudbuild.yaml",
        "Makefile",
        "pyproject.toml",
    ):
        assert expected in files
    assert not any(f.startswith(("serving/.venv", "examples/", "tests/")) or f == "serving/uv.lock" for f in files)


# ------------------------------------------------------------------ one executor shape

EXECUTORS = sorted(p.parent.name for p in (REPO / "components").glob("*/executor.py"))


def test_every_component_has_an_executor():
    assert {
        "example_gen",
        "statistics_gen",
        "schema_gen",
        "example_validator",
        "transform",
        "trainer",
        "evaluator",
        "pusher",
    } <= set(EXECUTORS)


@pytest.mark.parametrize("component", EXECUTORS)
def test_executor_shape(component):
    module = importlib.import_module(f"components.{component}.executor")
    for name in ("Inputs", "Outputs"):
        cls = getattr(module, name, None)
        assert inspect.isclass(cls), f"components/{component}/executor.py has no class {name}"
        assert dataclasses.is_dataclass(cls), f"{component}.{name} is not a dataclass"
        assert cls.__dataclass_params__.frozen, f"{component}.{name} is not frozen"
    run = getattr(module, "run", None)
    assert callable(run), f"components/{component}/executor.py has no run()"
    params = list(inspect.signature(run).parameters)
    assert params == ["config", "inputs", "outputs"], f"{component}.run{tuple(params)}"

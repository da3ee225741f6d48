"""OpenTofu and the provider plugin dir come from `make terraform-tools` (TOFU, TF_PLUGIN_DIR);
every tofu command runs on a copy of terraform/, so nothing is written into the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
IGNORED = shutil.ignore_patterns(".terraform", ".venv", "__pycache__", "*.tfstate*", "checks")


def _tool(var: str) -> Path:
    value = os.environ.get(var, "")
    if not value or not Path(value).exists():
        pytest.fail(f"{var} is not set to a built tool: run these checks with `make terraform-check`")
    return Path(value)


@pytest.fixture(scope="session")
def tofu() -> Path:
    return _tool("TOFU")


@pytest.fixture(scope="session")
def plugin_dir() -> Path:
    return _tool("TF_PLUGIN_DIR")


@pytest.fixture(scope="session")
def terraform_copy(tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp("tf") / "terraform"
    shutil.copytree(TERRAFORM, dst, ignore=IGNORED)
    return dst


def run_tofu(tofu: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
        "TF_CLI_CONFIG_FILE": os.devnull,  # no user config, no registry credentials
    }
    return subprocess.run([str(tofu), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def init(tofu: Path, plugin_dir: Path, root: Path) -> None:
    """`tofu init` from the local plugin dir only (no registry), without a backend."""
    result = run_tofu(tofu, root, "init", "-backend=false", "-input=false", "-no-color", f"-plugin-dir={plugin_dir}")
    assert result.returncode == 0, f"tofu init in {root.name}:\n{result.stdout}\n{result.stderr}"

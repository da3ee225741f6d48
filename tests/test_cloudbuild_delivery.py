"""cloudbuild.yaml's delivery step, run as Cloud Build runs it: its script (the
`compile-and-submit` step's `bash -c` argument) with Cloud Build's substitutions applied, in
bash, with `make` stubbed and `.venv/bin/tabml` a stand-in that records its argv and then runs
the real CLI (submit and schedule with --dry-run: nothing leaves this machine)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from typer.main import get_command

from pipelines.cli import app
from tests.conftest import REPO

# Cloud Build's built-in substitutions for a build started by a trigger.
BUILTINS = {"PROJECT_ID": "my-project", "SHORT_SHA": "abc1234", "COMMIT_SHA": "abc1234" + "0" * 33}
CRON = "0 3 * * *"


def substitute(text: str, values: dict[str, str]) -> tuple[str, list[str]]:
    """Cloud Build's substitution in step args: `$$` is a literal `$`; `$NAME` and `${NAME}`
    (built-in, or user-defined `_NAME`) are replaced by their values. Returns the text and the
    names that have no value: with the default substitution option (MUST_MATCH) Cloud Build
    rejects such a build, so the script must write `$$name` for a bash variable."""
    unknown = []

    def one(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(2)
        if name in values:
            return values[name]
        unknown.append(name)
        return m.group(0)

    return re.sub(r"\$\$|\$\{(\w+)\}|\$(\w+)", one, text), unknown


def test_substitute_follows_cloud_builds_rules():
    text = 'a=$$x b="$${arr[@]}" c=$_C d=${_C}e f=$PROJECT_ID $$$_C $verb'
    out, unknown = substitute(text, {"_C": "v w", "PROJECT_ID": "p"})
    assert out == 'a=$x b="${arr[@]}" c=v w d=v we f=p $v w $verb'
    assert unknown == ["verb"]


def build() -> dict:
    return yaml.safe_load((REPO / "cloudbuild.yaml").read_text())


def substitutions(cron: str) -> dict[str, str]:
    """The merge trigger's values: the defaults, with built-ins expanded in them (dynamic
    substitutions, which cloudbuild.yaml turns on), _DELIVER=true and the given cron."""
    values = dict(BUILTINS)
    for name, default in build()["substitutions"].items():
        values[name] = substitute(str(default), BUILTINS)[0]
    return values | {"_DELIVER": "true", "_SCHEDULE_CRON": cron}


def test_every_substitution_is_defined_used_and_expanded():
    config = build()
    scripts = "\n".join(str(arg) for step in config["steps"] for arg in step["args"])
    defined = config["substitutions"]
    for name in defined:  # Cloud Build rejects a passed substitution the template does not use
        assert re.search(rf"\$\{{?{name}\b", scripts), f"{name} is defined but no step uses it"
    for name in set(re.findall(r"(?<!\$)\$\{?(_[A-Z0-9_]+)", scripts)):
        assert name in defined, f"{name} is used but has no default"
    # `_X: ...${PROJECT_ID}...` is expanded only with dynamic substitutions (always on for
    # triggers, off for `gcloud builds submit` unless the file turns it on).
    if any("$" in str(v) for v in defined.values()):
        assert config["options"].get("dynamicSubstitutions") is True


@pytest.fixture
def delivery(tmp_path):
    """Runs the delivery script for a cron ("" submits); returns (argv of each tabml call,
    the real CLI's output)."""

    def run(cron: str) -> tuple[list[list[str]], str]:
        [step] = [s for s in build()["steps"] if s["id"] == "compile-and-submit"]
        assert step["entrypoint"] == "bash" and step["args"][0] == "-c"
        script, unknown = substitute(step["args"][1], substitutions(cron))
        assert not unknown, f"cloudbuild.yaml: `${unknown[0]}` is no substitution (Cloud Build rejects it): write `$$`"
        work = tmp_path / ("schedule" if cron else "submit")
        (work / "bin").mkdir(parents=True)
        (work / ".venv" / "bin").mkdir(parents=True)
        (work / "examples").symlink_to(REPO / "examples")
        for name in ("0", "3", "notes.txt"):  # what an unquoted * would expand to
            (work / name).write_text("")
        log = work / "calls.jsonl"
        (work / "bin" / "make").write_text("#!/bin/sh\nexit 0\n")
        (work / ".venv" / "bin" / "tabml").write_text(
            f"#!{sys.executable}\n"
            "import json, subprocess, sys\n"
            f"open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
            "dry = ['--dry-run'] if sys.argv[1] in ('submit', 'schedule') else []\n"
            "sys.exit(subprocess.call([sys.executable, '-m', 'pipelines.cli', *sys.argv[1:], *dry]))\n"
        )
        for stub in ("bin/make", ".venv/bin/tabml"):
            (work / stub).chmod(0o755)
        env = {
            "PATH": f"{work / 'bin'}:/usr/bin:/bin",
            "HOME": str(work),
            "PYTHONPATH": str(REPO),
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "COLUMNS": "200",
            "LANG": os.environ.get("LANG", "C.UTF-8"),
        }
        done = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        return [json.loads(line) for line in log.read_text().splitlines()], done.stdout

    return run


def expected_argv(verb: list[str]) -> list[str]:
    v = substitutions(CRON)
    return [
        *verb,
        "--target",
        "vertex",
        "--config",
        v["_CONFIG"],
        "--package",
        "build/compiled/chicago-taxi.vertex.yaml",
        "--project",
        "my-project",
        "--region",
        v["_REGION"],
        "--pipeline-root",
        "gs://my-project-pipelines/root",
        "--service-account",
        "tabml-pipelines@my-project.iam.gserviceaccount.com",
        "--label",
        "commit=abc1234",
        "--param",
        "model_registry=gs://my-project-models/registry",
        "--param",
        f"git_commit={BUILTINS['COMMIT_SHA']}",
    ]


COMPILE = [
    "compile",
    "--config",
    "examples/chicago_taxi/config.yaml",
    "--target",
    "vertex",
    "--image-registry",
    "us-central1-docker.pkg.dev/my-project/tabml",
    "--image-tag",
    "abc1234",
    "--pipeline",
    "training",  # one package per target: `--package build/compiled/*.vertex.yaml` matches one file
    "--no-runner-variants",  # the config's beam.runner only (the example also compiles Dataflow's)
    "--output-dir",
    "build/compiled",
]


@pytest.mark.parametrize("cron", [CRON, ""], ids=["schedule", "submit"])
def test_delivery_compiles_against_the_pushed_images_then_submits_or_schedules(delivery, cron):
    calls, output = delivery(cron)
    verb = ["schedule", "--cron", CRON] if cron else ["submit"]
    assert calls == [COMPILE, expected_argv(verb)]  # the cron is one argument, not globbed
    commands = get_command(app).commands
    ctx = commands[verb[0]].make_context(verb[0], calls[1][1:])
    assert ctx.params["target"] == "vertex" and ctx.params["cron" if cron else "target"] == (cron or "vertex")
    # The real CLI accepted the compiled package (real images, known parameters) and would send:
    parent = "/v1/projects/my-project/locations/us-central1"
    assert f"POST {parent}/{'schedules' if cron else 'pipelineJobs'}" in output, output
    assert "us-central1-docker.pkg.dev/my-project/tabml/tabml-pipeline:abc1234" in output
    assert f'"git_commit": "{BUILTINS["COMMIT_SHA"]}"' in output
    if cron:
        assert f'"cron": "{CRON}"' in output and '"displayName": "chicago-taxi-schedule"' in output
        assert f"GET {parent}/schedules?filter=display_name=" in output  # replaces, never adds

"""Write the Kubernetes wrappers of rules.yaml (the one source of the rule groups):

  prometheusrule.yaml                            PrometheusRule (prometheus-operator)
  ../components/managed-prometheus/rules.yaml    Rules (Google Managed Prometheus, namespaced)

    serving/.venv/bin/python serving/manifests/monitoring/render_rules.py          # write them
    serving/.venv/bin/python serving/manifests/monitoring/render_rules.py --check  # exit 1 if stale

Kustomize cannot embed one file's content in another resource, hence generated files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
RULES = HERE / "rules.yaml"
NAME = "tabml-predictor-rules"
LABELS = {"app.kubernetes.io/part-of": "tabml", "app.kubernetes.io/component": "monitoring"}
# output path -> apiVersion, kind
TARGETS = {
    HERE / "prometheusrule.yaml": ("monitoring.coreos.com/v1", "PrometheusRule"),
    HERE.parent / "components" / "managed-prometheus" / "rules.yaml": ("monitoring.googleapis.com/v1", "Rules"),
}


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper, value: str):
    style = "|" if "\n" in value else None  # PromQL stays readable as a block
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def groups() -> list[dict]:
    return yaml.safe_load(RULES.read_text())["groups"]


def render(api_version: str, kind: str) -> str:
    doc = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": NAME, "labels": LABELS},
        "spec": {"groups": groups()},
    }
    header = f"# GENERATED from {RULES.name} by {Path(__file__).name}: edit {RULES.name}, then rerun it.\n"
    return header + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report stale files (exit 1)")
    args = parser.parse_args(argv)
    stale = []
    for path, (api_version, kind) in TARGETS.items():
        text = render(api_version, kind)
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text)
    if args.check and stale:
        names = ", ".join(str(p) for p in stale)
        print(f"{names}: not what {RULES} renders to; run {Path(__file__)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

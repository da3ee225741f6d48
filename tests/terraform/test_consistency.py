"""What terraform/ creates and what the rest of the repo assumes of it agree: cloudbuild.yaml's
defaults, the serving overlays' namespaces and service accounts, the Trainer's node, and the
example configs' beam.dataflow sections."""

from __future__ import annotations

import re

import hcl2
import pytest
import yaml
from conftest import REPO, TERRAFORM


def hcl(path):
    with open(path) as f:
        return hcl2.load(f)


def stack_defaults() -> dict:
    defaults = {}
    for block in hcl(TERRAFORM / "stack" / "variables.tf")["variable"]:
        for name, body in block.items():
            defaults[name] = body.get("default", [None])[0]
    return defaults


def tfvars(env: str) -> dict:
    return {
        k: v[0] if isinstance(v, list) and len(v) == 1 else v
        for k, v in hcl(TERRAFORM / "envs" / f"{env}.tfvars").items()
    }


def cloudbuild_substitutions() -> dict:
    return yaml.safe_load((REPO / "cloudbuild.yaml").read_text())["substitutions"]


def test_cloudbuild_defaults_name_what_terraform_creates():
    subs, defaults = cloudbuild_substitutions(), stack_defaults()
    # bucket_prefix defaults to the project ID; the outputs are gs://<prefix>-pipelines/root, -models/registry.
    assert defaults["bucket_prefix"] is None
    assert subs["_PIPELINE_ROOT"] == "gs://${PROJECT_ID}-pipelines/root"
    assert subs["_MODEL_REGISTRY"] == "gs://${PROJECT_ID}-models/registry"
    accounts = defaults["service_account_ids"]
    assert accounts == {}  # the optional() defaults in the type apply
    assert re.search(
        r'pipelines\s*=\s*optional\(string, "tabml-pipelines"\)', (TERRAFORM / "stack" / "variables.tf").read_text()
    )
    assert subs["_PIPELINE_SA"] == "tabml-pipelines@${PROJECT_ID}.iam.gserviceaccount.com"
    region = subs["_REGION"]
    assert defaults["region"] == region and defaults["repository_location"] is None  # the repository is in the region
    assert subs["_IMAGE_REGISTRY"].split()[0] == f"{region}-docker.pkg.dev/${{PROJECT_ID}}/{defaults['repository_id']}"


@pytest.mark.parametrize(("env", "overlay"), [("dev", "staging"), ("prod", "production")])
def test_serving_overlay_matches_the_environment(env, overlay):
    values, defaults = tfvars(env), stack_defaults()
    kustomization = yaml.safe_load((REPO / "serving/manifests/overlays" / overlay / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == values["serving_namespace"]
    patch = next(p["patch"] for p in kustomization["patches"] if p["target"].get("kind") == "ServiceAccount")
    account_id = values["service_account_ids"]["serving"]
    assert f"value: {account_id}@PROJECT_ID.iam.gserviceaccount.com" in patch
    assert defaults["serving_service_account"] == "tabml-serving"
    base = (REPO / "serving/manifests/base/inferenceservice-custom.yaml").read_text()
    assert "serviceAccountName: tabml-serving" in base


def test_gpu_pool_is_the_trainers_node():
    """The pipeline config validates the Trainer's request against resources.trainer.machine_type
    (default g2-standard-4, contracts/machines.py); the GPU pool must be that machine."""
    defaults = stack_defaults()
    config_source = (REPO / "contracts" / "config.py").read_text()
    assert defaults["gpu_machine_type"] == "g2-standard-4"
    assert '"g2-standard-4"' in config_source
    assert defaults["gpu_type"] == "nvidia-l4"
    assert 'gpu_type="NVIDIA_L4"' in config_source  # kfp's GKE accelerator label value is nvidia-l4


def beam_dataflow_sections() -> dict[str, dict]:
    sections = {}
    for path in sorted((REPO / "examples").glob("*/config.yaml")):
        dataflow = (yaml.safe_load(path.read_text()).get("beam") or {}).get("dataflow")
        if dataflow:
            sections[path.parent.name] = dataflow
    return sections


def test_beam_dataflow_sections_name_what_terraform_creates():
    """The examples' beam.dataflow (YOUR_PROJECT for the project ID) is output.tabml_beam_dataflow
    with the stack's defaults: the workers' account, the temp prefix, the subnet in the region."""
    sections, defaults = beam_dataflow_sections(), stack_defaults()
    assert sections, "no example config has a beam.dataflow section"
    variables = (TERRAFORM / "stack" / "variables.tf").read_text()
    account = re.search(r'dataflow\s*=\s*optional\(string, "([a-z0-9-]+)"\)', variables)
    prefix = re.search(r'dataflow_temp_prefix\s*=\s*"([^"]+)"', (TERRAFORM / "modules/storage/main.tf").read_text())
    subnet = re.search(r'name\s*=\s*"\$\{var.name\}-(dataflow)"', (TERRAFORM / "modules/network/main.tf").read_text())
    assert account and prefix and subnet
    region = defaults["region"]
    subnetwork = f"regions/{region}/subnetworks/{defaults['cluster_name']}-{subnet.group(1)}"
    for name, section in sections.items():
        assert section["service_account"] == f"{account.group(1)}@YOUR_PROJECT.iam.gserviceaccount.com", name
        assert section["temp_location"] == f"gs://YOUR_PROJECT-pipelines/{prefix.group(1)}", name
        assert section["region"] == region, name
        # The stack's VPC has no default network: jobs must name the workers' subnet.
        assert section.get("subnetwork") == subnetwork, name

"""The config's beam section becomes Beam args that Beam's own parser accepts; bad options are
refused before anything runs, naming the field; a remote runner gets the artifacts' URIs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from components.common.beam import BeamArgsError, artifact_location, pipeline_options, validate_beam_args
from contracts.beam import BeamConfig
from contracts.config import ConfigError, load_config, parse_config
from pipelines.cli import app
from pipelines.preflight import PreflightError, check_beam
from pipelines.training_pipeline import beam_args_default
from tests.conftest import TAXI_CONFIG

DATAFLOW = {"project": "p", "region": "europe-west4", "temp_location": "gs://b/tmp"}


def test_default_is_one_in_process_direct_worker():
    options = pipeline_options(BeamConfig().args()).get_all_options()
    assert options["runner"] == "DirectRunner"
    assert options["direct_num_workers"] == 1 and options["direct_running_mode"] == "in_memory"


def test_dataflow_args_carry_the_image_and_parse():
    beam = BeamConfig(runner="dataflow", dataflow=DATAFLOW | {"max_workers": 20, "service_account": "w@p.iam"})
    args = beam.args(image="reg/tabml-pipeline:abc")
    options = pipeline_options(args).get_all_options()
    assert options["runner"] == "DataflowRunner" and options["project"] == "p"
    assert options["max_num_workers"] == 20 and options["service_account_email"] == "w@p.iam"
    assert options["sdk_container_image"] == "reg/tabml-pipeline:abc"
    assert options["experiments"] == ["upload_graph"]
    # Local runs stay on DirectRunner whatever the cluster runner is.
    assert beam.args("direct")[0] == "--runner=DirectRunner"


def test_flink_without_job_endpoint_starts_its_job_server_from_the_jar():
    beam = BeamConfig(runner="flink", flink={"flink_master": "[local]", "job_server_jar": "/jars/flink.jar"})
    options = pipeline_options(beam.args()).get_all_options()
    assert options["runner"] == "FlinkRunner" and options["flink_job_server_jar"] == "/jars/flink.jar"
    assert options["environment_type"] == "EXTERNAL" and options["parallelism"] == 2


@pytest.mark.parametrize(
    "section, message",
    [
        ({"runner": "dataflow"}, "no beam.dataflow section"),
        ({"dataflow": DATAFLOW | {"temp_location": "/tmp/x"}}, "beam.dataflow.temp_location"),
        ({"direct": {"running_mode": "fast"}}, "beam.direct.running_mode"),
        ({"extra_args": ["direct_num_workers=2"]}, "are not Beam options"),
        ({"runnr": "direct"}, "beam.runnr"),
    ],
)
def test_bad_sections_name_the_field(section, message):
    raw = load_config(TAXI_CONFIG).model_dump(mode="json") | {"beam": section}
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--direct_num_workers=two"], "invalid int value: 'two'"),
        (["--max_num_worker=3"], r"does not know \['--max_num_worker=3'\]"),
        (["runner=DirectRunner"], "must look like --name=value"),
    ],
)
def test_beams_parser_refuses_bad_args(args, message):
    with pytest.raises(BeamArgsError, match=message):
        validate_beam_args(args)


def test_preflight_refuses_an_extra_arg_beam_does_not_know():
    raw = load_config(TAXI_CONFIG).model_dump(mode="json")
    cfg = parse_config(raw | {"beam": {"extra_args": ["--num_worker_harness_threads=4"]}})
    with pytest.raises(PreflightError, match=r"beam.direct: Beam does not know \['--num_worker_harness_threads=4'\]"):
        check_beam(cfg)
    result = CliRunner().invoke(app, ["validate-config", "--config", str(TAXI_CONFIG)])
    assert result.exit_code == 0, result.output
    assert "beam.dataflow (a compiled variant): --runner=DataflowRunner" in result.output


def test_local_target_runs_direct_cluster_targets_the_configured_runner():
    cfg = load_config(TAXI_CONFIG)
    assert beam_args_default(cfg, "local") == cfg.beam.direct.args()
    assert beam_args_default(cfg, "kfp", runner="flink")[0] == "--runner=PortableRunner"


def test_artifact_location_per_runner(tmp_path):
    local = tmp_path / "pod" / "statistics"
    artifact = SimpleNamespace(path=str(local), uri="gs://root/run/statistics")
    assert artifact_location(artifact, ["--runner=DirectRunner"]) == str(local)
    assert not local.exists()
    assert artifact_location(artifact, ["--runner=DataflowRunner"]) == "gs://root/run/statistics"
    # KFP's launcher stats the local output path before uploading it: it must exist (empty).
    assert local.is_dir() and not any(local.iterdir())
    minio = SimpleNamespace(path=str(local), uri="minio://mlpipeline/run/statistics")
    with pytest.raises(BeamArgsError, match="pipeline root on gs://"):
        artifact_location(minio, ["--runner=PortableRunner"])

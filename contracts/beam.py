"""Where the Beam steps (ExampleGen, StatisticsGen, Transform, Evaluator) run: the config's
`beam` section, turned into Beam pipeline args. The args are a pipeline parameter
(`beam_args`, visible and changeable per run in the KFP UI); what is compiled in is the
runner this section names for the cluster variants, and DirectRunner for local runs.
components/common/beam.py checks every arg with Beam's own option parser before a step runs
(here there is no Beam import: the serving image has none)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Runner = Literal["direct", "dataflow", "flink", "portable"]
EnvironmentType = Literal["EXTERNAL", "PROCESS", "DOCKER", "LOOPBACK"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DirectBeam(_Strict):
    """Beam's DirectRunner on the step's own machine (local runs; a pod on a cluster)."""

    # Several workers pay off from about 1M rows: each worker process imports TensorFlow.
    workers: int = Field(default=1, ge=1, le=64)
    running_mode: Literal["in_memory", "multi_threading", "multi_processing"] = "in_memory"

    def args(self) -> list[str]:
        return [
            "--runner=DirectRunner",
            f"--direct_num_workers={self.workers}",
            f"--direct_running_mode={self.running_mode}",
        ]


class DataflowBeam(_Strict):
    """Google Cloud Dataflow (Runner v2). The workers run the pipeline's own CPU image as
    their SDK container, so the TFX libraries and the user's module file match the launcher."""

    project: str = Field(min_length=1)
    region: str = Field(min_length=1)
    temp_location: str = Field(pattern=r"^gs://[^/]+(/.*)?$")
    staging_location: str = Field(default="", pattern=r"^(gs://[^/]+(/.*)?)?$")
    machine_type: str = "n1-standard-4"
    max_workers: int = Field(default=10, ge=1)
    service_account: str = ""  # the worker service account's email (Terraform output dataflow_service_account)
    subnetwork: str = ""  # regions/REGION/subnetworks/NAME when the project has no default network
    # upload_graph: TFMA/TFT graphs can exceed the size limit of a Dataflow job request without it.
    experiments: list[str] = ["upload_graph"]

    def args(self, image: str = "") -> list[str]:
        args = [
            "--runner=DataflowRunner",
            f"--project={self.project}",
            f"--region={self.region}",
            f"--temp_location={self.temp_location}",
            f"--machine_type={self.machine_type}",
            f"--max_num_workers={self.max_workers}",
        ]
        args += [f"--staging_location={self.staging_location}"] if self.staging_location else []
        args += [f"--service_account_email={self.service_account}"] if self.service_account else []
        args += [f"--subnetwork={self.subnetwork}"] if self.subnetwork else []
        args += [f"--sdk_container_image={image}"] if image else []
        return args + [f"--experiments={e}" for e in self.experiments]


class FlinkBeam(_Strict):
    """Apache Flink, for Kubeflow off Google Cloud: Flink on Kubernetes with Beam's Flink job
    server as a Service and Beam's SDK worker pool as a sidecar of each TaskManager
    (docs/scale.md). With job_endpoint the step submits there (PortableRunner); without it,
    FlinkRunner starts the job server itself from job_server_jar (needs Java in the image)."""

    job_endpoint: str = ""  # host:port of the Beam Flink job server, e.g. beam-flink-job-server:8099
    flink_master: str = "[auto]"  # FlinkRunner only: the JobManager's REST host:port, or [local]
    job_server_jar: str = ""  # FlinkRunner only: `make setup-flink` fetches it for local runs
    parallelism: int = Field(default=2, ge=1)
    environment_type: EnvironmentType = "EXTERNAL"
    environment_config: str = "localhost:50000"  # EXTERNAL: the TaskManager's worker pool sidecar

    def args(self) -> list[str]:
        if self.job_endpoint:
            args = ["--runner=PortableRunner", f"--job_endpoint={self.job_endpoint}"]
        else:
            args = ["--runner=FlinkRunner", f"--flink_master={self.flink_master}"]
            args += [f"--flink_job_server_jar={self.job_server_jar}"] if self.job_server_jar else []
        args += [f"--parallelism={self.parallelism}", f"--environment_type={self.environment_type}"]
        return args + ([f"--environment_config={self.environment_config}"] if self.environment_config else [])


class PortableBeam(_Strict):
    """Any portable runner's job service (Spark's, a shared Flink job server, Prism)."""

    job_endpoint: str = Field(min_length=1)
    environment_type: EnvironmentType = "EXTERNAL"
    environment_config: str = "localhost:50000"

    def args(self) -> list[str]:
        args = ["--runner=PortableRunner", f"--job_endpoint={self.job_endpoint}"]
        args += [f"--environment_type={self.environment_type}"]
        return args + ([f"--environment_config={self.environment_config}"] if self.environment_config else [])


class BeamConfig(_Strict):
    # The runner of the compiled cluster variants; local runs use `direct` whatever this says.
    runner: Runner = "direct"
    direct: DirectBeam = DirectBeam()
    dataflow: DataflowBeam | None = None
    flink: FlinkBeam | None = None
    portable: PortableBeam | None = None
    # Appended to every runner's args, e.g. ["--number_of_worker_harness_threads=4"].
    extra_args: list[str] = []

    @field_validator("extra_args")
    @classmethod
    def _flags(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if not a.startswith("--")]
        if bad:
            raise ValueError(f"{bad} are not Beam options (each must look like --name=value)")
        return value

    @model_validator(mode="after")
    def _runner_section(self) -> BeamConfig:
        if self.runner != "direct" and getattr(self, self.runner) is None:
            raise ValueError(f"runner is {self.runner!r} but there is no beam.{self.runner} section")
        return self

    def args(self, runner: Runner | None = None, image: str = "") -> list[str]:
        """The Beam args for `runner` (default: this section's); `image` is the SDK container
        image of the workers of a runner that starts its own (Dataflow)."""
        runner = runner or self.runner
        section = self.direct if runner == "direct" else getattr(self, runner)
        if section is None:
            raise ValueError(f"beam.{runner} is not configured")
        return (section.args(image) if runner == "dataflow" else section.args()) + list(self.extra_args)

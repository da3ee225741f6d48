# CPU image for the data and evaluation components. Build from the repo root:
#   docker build -f images/pipeline.Dockerfile -t REGISTRY/tabml-pipeline:$(git rev-parse --short HEAD) .
# Everything is installed from uv.lock at build time; nothing is pip-installed at run time.
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_USE_LEGACY_KERAS=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python -m pip install --no-cache-dir uv==0.13.9 \
    && useradd --uid 10001 --create-home --shell /usr/sbin/nologin pipeline

WORKDIR /app
# Dependencies first (cached layer), then the project itself.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY contracts ./contracts
COPY components ./components
COPY pipelines ./pipelines
# The Pusher uses the KServe rollout from serving/.
COPY serving/rollout ./serving/rollout
# The examples' configs, schemas and data (relative paths in a config resolve against /app).
COPY examples ./examples
RUN uv sync --frozen --no-dev && python -c "import components, contracts.config, pipelines.training_pipeline"

# Beam's SDK harness launcher, from the Beam release the lock pins: Dataflow (Runner v2) and
# portable runners start this image's workers through it (`--sdk_container_image`, docs/scale.md).
# KFP sets each step's command, so the entrypoint only matters there.
COPY --from=apache/beam_python3.11_sdk:2.59.0 /opt/apache/beam /opt/apache/beam
ENTRYPOINT ["/opt/apache/beam/boot"]

# Relative paths in configs (examples/...) resolve against /app. Your own module files: build
# FROM this image and COPY them in (docs/user-code.md).
USER 10001

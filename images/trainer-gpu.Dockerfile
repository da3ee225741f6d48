# GPU image for the Trainer: the pipeline environment plus TensorFlow's CUDA libraries
# (tensorflow[and-cuda], the `gpu` extra in pyproject.toml, pinned in uv.lock). The NVIDIA
# driver comes from the GKE / Vertex node. Build from the repo root:
#   docker build -f images/trainer-gpu.Dockerfile -t REGISTRY/tabml-trainer-gpu:$(git rev-parse --short HEAD) .
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
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --extra gpu --no-install-project
COPY contracts ./contracts
COPY components ./components
COPY pipelines ./pipelines
COPY serving/rollout ./serving/rollout
COPY examples ./examples
RUN uv sync --frozen --no-dev --extra gpu && python -c "import components, contracts.config, pipelines.training_pipeline"

USER 10001

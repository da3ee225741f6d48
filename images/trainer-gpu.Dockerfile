# GPU image for the Trainer: the pipeline environment plus TensorFlow's CUDA libraries
# (tensorflow[and-cuda], the `gpu` extra in pyproject.toml, pinned in uv.lock). The NVIDIA
# driver comes from the GKE / Vertex node. Build from the repo root:
#   docker build -f images/trainer-gpu.Dockerfile -t REGISTRY/taxi-mlops-trainer-gpu:$(git rev-parse --short HEAD) .
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
COPY components ./components
COPY pipelines ./pipelines
# The Pusher uses the registry layout and the KServe rollout from serving/.
COPY serving/registry_layout ./serving/registry_layout
COPY serving/rollout ./serving/rollout
COPY configs ./configs
COPY data ./data
RUN uv sync --frozen --no-dev --extra gpu && python -c "import components, pipelines.config"

USER 10001

# CPU image for the data and evaluation components. Build from the repo root:
#   docker build -f images/pipeline.Dockerfile -t REGISTRY/taxi-mlops-pipeline:$(git rev-parse --short HEAD) .
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
COPY components ./components
COPY pipelines ./pipelines
# The Pusher uses the registry layout and the KServe rollout from serving/.
COPY serving/registry_layout ./serving/registry_layout
COPY serving/rollout ./serving/rollout
COPY configs ./configs
COPY data ./data
RUN uv sync --frozen --no-dev && python -c "import components, pipelines.config"

# Relative paths in configs (data/, configs/schemas/) resolve against /app.
USER 10001

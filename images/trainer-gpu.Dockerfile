# GPU image for the Trainer: the pipeline environment plus TensorFlow's CUDA libraries
# (tensorflow[and-cuda]==2.16.2, the `gpu` extra in pyproject.toml, pinned in uv.lock). Build
# from the repo root:
#   docker build -f images/trainer-gpu.Dockerfile -t REGISTRY/tabml-trainer-gpu:$(git rev-parse --short HEAD) .
#
# Where each GPU piece comes from:
# - The NVIDIA driver (libcuda.so.1, nvidia-smi) is the node's. GKE (driver installed by GKE)
#   mounts it at /usr/local/nvidia/lib64 and /usr/local/nvidia/bin and leaves the loader path to
#   the image: hence LD_LIBRARY_PATH and PATH below. Vertex AI (the NVIDIA container runtime)
#   puts it on the standard library path for the capabilities in NVIDIA_DRIVER_CAPABILITIES
#   ("compute" is libcuda; the runtime's default, "utility", is nvidia-smi alone).
# - CUDA 12.3 and cuDNN 8.9, what TensorFlow 2.16.2 is built against
#   (tf.sysconfig.get_build_info(): cuda_version 12.3, cudnn_version 8), are the pip wheels that
#   tensorflow[and-cuda] pins (nvidia-*-cu12 in uv.lock): the set TensorFlow tested, locked with
#   everything else. nvidia/cuda's cuDNN images for CUDA 12.3 carry cuDNN 9, which TF 2.16
#   cannot load, and its runtime images would duplicate the wheels: so the base is the `base`
#   flavour (Ubuntu 22.04, cudart, the container-runtime settings). TF 2.16 does not find the
#   wheels' libraries by itself (tensorflow/tensorflow#63362): their lib directories are on
#   LD_LIBRARY_PATH, and ptxas (nvidia-cuda-nvcc-cu12) is on PATH.
# - Python 3.11.7, the CPU image's, is a uv-managed CPython (Ubuntu 22.04 has 3.10), fetched
#   by `uv python install` at build time only: UV_PYTHON_DOWNLOADS=never everywhere else.
# Verified here without Docker: tests/test_gpu_resources.py parses this file (the base image
# family and CUDA version against TensorFlow's build info, LD_LIBRARY_PATH against the nvidia
# wheels in uv.lock, the venv's Python 3.11). The RUN checks below fail the build when a wheel
# directory named on LD_LIBRARY_PATH is missing.
FROM nvidia/cuda:12.3.2-base-ubuntu22.04

COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /bin/

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_USE_LEGACY_KERAS=1 \
    UV_PYTHON=3.11.7 \
    UV_PYTHON_PREFERENCE=only-managed \
    UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
ENV LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/nvidia/lib:/opt/venv/lib/python3.11/site-packages/nvidia/cublas/lib:/opt/venv/lib/python3.11/site-packages/nvidia/cuda_cupti/lib:/opt/venv/lib/python3.11/site-packages/nvidia/cuda_nvrtc/lib:/opt/venv/lib/python3.11/site-packages/nvidia/cuda_runtime/lib:/opt/venv/lib/python3.11/site-packages/nvidia/cudnn/lib:/opt/venv/lib/python3.11/site-packages/nvidia/cufft/lib:/opt/venv/lib/python3.11/site-packages/nvidia/curand/lib:/opt/venv/lib/python3.11/site-packages/nvidia/cusolver/lib:/opt/venv/lib/python3.11/site-packages/nvidia/cusparse/lib:/opt/venv/lib/python3.11/site-packages/nvidia/nccl/lib:/opt/venv/lib/python3.11/site-packages/nvidia/nvjitlink/lib \
    PATH=/opt/venv/bin:/usr/local/nvidia/bin:/opt/venv/lib/python3.11/site-packages/nvidia/cuda_nvcc/bin:$PATH

# ca-certificates: TensorFlow's gs:// file system (libcurl) reads the system CA bundle.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && UV_PYTHON_DOWNLOADS=manual uv python install 3.11.7 \
    && useradd --uid 10001 --create-home --shell /usr/sbin/nologin pipeline

WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --extra gpu --no-install-project
COPY contracts ./contracts
COPY components ./components
COPY pipelines ./pipelines
COPY serving/rollout ./serving/rollout
COPY examples ./examples
RUN uv sync --frozen --no-dev --extra gpu \
    && python -c "import sys; assert sys.version_info[:2] == (3, 11), sys.version" \
    && python -c "import os; missing = [d for d in os.environ['LD_LIBRARY_PATH'].split(':') if '/nvidia/' in d and '/opt/venv/' in d and not os.path.isdir(d)]; assert not missing, missing" \
    && test -x /opt/venv/lib/python3.11/site-packages/nvidia/cuda_nvcc/bin/ptxas \
    && python -c "import components, contracts.config, pipelines.training_pipeline; import tensorflow as tf; assert tf.sysconfig.get_build_info()['is_cuda_build']"

USER 10001

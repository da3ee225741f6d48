"""Container images the components run in.

Components name a default `base_image`; `compile` replaces it per task with images from a
registry and tag (e.g. the git SHA), so compiled YAML always names the image built from
the same commit. Dockerfiles: images/.
"""

from __future__ import annotations

from dataclasses import dataclass

PIPELINE_IMAGE = "tabml/pipeline-python3.11:dev"


@dataclass(frozen=True)
class Images:
    cpu: str  # data and evaluation components (images/pipeline.Dockerfile)
    gpu: str  # the Trainer (images/trainer-gpu.Dockerfile)


def images_for(registry: str, tag: str) -> Images:
    if not registry or not tag:
        raise ValueError(
            "an image registry and tag are both needed, e.g. "
            "--image-registry us-docker.pkg.dev/my-project/mlops --image-tag $(git rev-parse --short HEAD)"
        )
    prefix = registry.rstrip("/")
    return Images(cpu=f"{prefix}/tabml-pipeline:{tag}", gpu=f"{prefix}/tabml-trainer-gpu:{tag}")

"""Container images the components run in. `compile` can point them at a registry and tag;
the default is the image the Makefile/Dockerfiles build locally."""

PIPELINE_IMAGE = "taxi-mlops/pipeline-python3.11:dev"

"""KServe custom predictor for tabml's pushed SavedModels (binary, multiclass, regression).

Serves the `serving_raw` signature (one named [batch] tensor per raw feature) over KServe's
v1 (`/v1/models/<name>:predict`) and v2 / Open Inference Protocol (`/v2/models/<name>/infer`)
REST endpoints, with KServe's own health, readiness and Prometheus `/metrics`, plus JSON-lines
request logs for the monitoring job. See serving/README.md.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

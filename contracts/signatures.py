"""The exported model's interface: signature and output names per task, shared by the
Trainer (which exports them), the Evaluator (TFMA reads serving_default) and the predictor
(which serves serving_raw)."""

from __future__ import annotations

# Serialized tf.Examples in, under the input name "examples" (TFMA; TF Serving's b64 inputs).
SERVING_DEFAULT = "serving_default"
EXAMPLES_INPUT = "examples"
# One named [batch] tensor per raw feature (JSON clients).
SERVING_RAW = "serving_raw"

# Outputs. Binary: PROBABILITIES [batch], the positive class's probability. Multiclass:
# PROBABILITIES [batch, classes] and CLASSES [batch, classes] (the class names, per row).
# Regression: PREDICTIONS [batch].
PROBABILITIES = "probabilities"
CLASSES = "classes"
PREDICTIONS = "predictions"

# The output TFMA and the predictor score, per task.
PREDICTION_KEY = {"binary": PROBABILITIES, "multiclass": PROBABILITIES, "regression": PREDICTIONS}

# A suffix on transformed feature names (the generated preprocessing_fn).
TRANSFORMED_SUFFIX = "_xf"


def transformed_name(feature: str) -> str:
    return feature + TRANSFORMED_SUFFIX

"""What the first epoch of a small Keras model spends before it trains: tracing the train and
test steps into graphs, and optimizing those graphs on their first run."""

from __future__ import annotations

import contextlib

import tensorflow as tf
from tensorflow.python.autograph.core import config as ag_config


def skip_autograph_in_tf_keras() -> None:
    """AutoGraph leaves TensorFlow's and Keras 3's own code alone, but TensorFlow 2.16 does not
    know the tf_keras package: tracing Model.fit's train step then converts all of tf_keras's
    training code, ~15 s of a CPU before the first batch. Later TensorFlow releases add the same
    rule to autograph/core/config.py; user code (a run_fn's layers) is still converted."""
    rules = ag_config.CONVERSION_RULES  # read by AutoGraph on every call
    if not any(isinstance(r, ag_config.DoNotConvert) and r.matches("tf_keras") for r in rules):
        ag_config.CONVERSION_RULES = (*rules, ag_config.DoNotConvert("tf_keras"))


@contextlib.contextmanager
def grappler_off(off: bool):
    """Grappler rewrites each new graph on its first run: for the generated model's train and
    test steps on CPU that costs ~0.4 s of a CPU, more than it saves (later epochs measured no
    faster with it). GPUs keep it (fused kernels)."""
    key = "disable_meta_optimizer"
    before = tf.config.optimizer.get_experimental_options().get(key, False)
    tf.config.optimizer.set_experimental_options({key: before or off})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({key: before})

"""Where each step writes what, in TFX's artifact layouts, so TFX users' tools read the outputs.

Only names and paths: the readers that need TensorFlow's libraries live beside the steps.
"""

from __future__ import annotations

import os


# Examples (ExampleGen, Transform): one sub-directory per split of gzipped TFRecords.
def split_dir(root: str, split: str) -> str:
    return os.path.join(root, f"Split-{split}")


def examples_pattern(root: str, split: str) -> str:
    return os.path.join(split_dir(root, split), "*.gz")


# ExampleGen's own record of what it read and wrote (files, column types, counts, label).
EXAMPLE_GEN_SUMMARY = "example_gen_summary.json"

# ExampleStatistics (StatisticsGen).
STATS_FILE = "FeatureStats.pb"


def stats_path(stats_root: str, split: str) -> str:
    return os.path.join(split_dir(stats_root, split), STATS_FILE)


# Schema (SchemaGen).
SCHEMA_FILE = "schema.pbtxt"


def schema_path(schema_dir_or_file: str) -> str:
    if schema_dir_or_file.endswith(".pbtxt"):
        return schema_dir_or_file
    return os.path.join(schema_dir_or_file, SCHEMA_FILE)


# ExampleAnomalies (ExampleValidator): TFDV's per split, plus the readable list.
ANOMALIES_FILE = "SchemaDiff.pb"
ANOMALIES_JSON = "anomalies.json"
ANOMALIES_MARKDOWN = "anomalies.md"

# TransformGraph (Transform): tf.Transform's own layout (transform_fn/, transformed_metadata/)
# plus the user's module file, when there is one, under module/, and the label's description
# from ExampleGen (task, classes in id order) for the Trainer.
MODULE_DIR = "module"
LABEL_INFO = "label.json"
# What the user's preprocessing_fn and run_fn are told (the same dict for both).
CUSTOM_CONFIG = "custom_config.json"

# Model (Trainer): the SavedModel; ModelRun: TensorBoard logs and the training summary.
SERVING_DIR = "Format-Serving"
TRAIN_RESULT = "train_result.json"


def serving_model_dir(model_dir: str) -> str:
    return os.path.join(model_dir, SERVING_DIR)


# ModelBlessing (Evaluator): an empty BLESSED or NOT_BLESSED file, and every check in JSON.
BLESSED, NOT_BLESSED = "BLESSED", "NOT_BLESSED"
BLESSING_JSON = "blessing.json"

# PushedModel (Pusher).
PUSH_RESULT = "push_result.json"

# Beside a failed step's outputs (in its task directory): which step failed, and why, so a
# local run can say it in one line after the step's long log.
FAILURE_FILE = "failure.json"


def is_blessed(blessing_dir: str) -> bool:
    """Exactly one of BLESSED / NOT_BLESSED must be there: anything else is a broken artifact."""
    if "://" in blessing_dir:
        import tensorflow as tf

        exists = tf.io.gfile.exists
    else:
        exists = os.path.exists  # no TensorFlow import for a local path
    blessed = exists(os.path.join(blessing_dir, BLESSED))
    not_blessed = exists(os.path.join(blessing_dir, NOT_BLESSED))
    if blessed == not_blessed:
        raise ValueError(f"{blessing_dir}: expected exactly one of {BLESSED} / {NOT_BLESSED}")
    return blessed

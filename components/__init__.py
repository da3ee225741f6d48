"""Pipeline components: a plain-Python executor per step, plus a thin KFP wrapper.

tf.Transform's Keras layer is a tf_keras model, so TensorFlow must pick legacy Keras;
this must happen before TensorFlow is first imported, and every executor is imported
through this package.
"""

import os
import warnings

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# google.api_core warns on every import about Python 3.11 support ending in 2027.
warnings.filterwarnings("ignore", category=FutureWarning, module="google.api_core")

"""Pipeline definition, configuration and custom components for the CIFAR-10 pipeline.

Keras 2 (``tf_keras``) is what TFX 1.16 / TFMA 0.47 understand, so select it before any
TensorFlow import.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

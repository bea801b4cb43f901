"""Model module code (Transform and Trainer) for the CIFAR-10 pipeline.

Keras 2 (``tf_keras``) is what TFX 1.16 / TFMA 0.47 understand, so it is selected here,
before any TensorFlow import of the workers that import this package.
"""

from models.keras_runtime import use_tf_keras

use_tf_keras()

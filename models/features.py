"""Names shared by the data step, Transform, Trainer and clients: feature keys and signatures.

One place for them so the raw schema, the transformed graph and the serving signatures can
never disagree. What the data *is* (class names, image shape, counts) is not here: it is the
dataset description (``models/dataset.py``), which every layer reads instead of constants.
"""

IMAGE_KEY = "image_raw"  # raw feature: the encoded image as given (any size/format)
LABEL_KEY = "label"  # raw feature: int64 class id in [0, number of classes)
IMAGE_PATH_KEY = "image_path"  # unlabelled images to score: path relative to their folder
TRANSFORMED_IMAGE_KEY = "image"  # transformed feature: float32 [H, W, C] in [0, 1]

# Serving signatures of the exported SavedModel and their inputs/outputs.
SIGNATURE_EXAMPLES = "serving_default"  # input: serialized tf.Example
SIGNATURE_IMAGES = "serving_images"  # input: uint8 [N, H, W, C] at the model's input size
SIGNATURE_IMAGE_BYTES = "serving_image_bytes"  # input: encoded images, any size and format
# tf.Examples in, numeric outputs only: TFX's BulkInferrer (tfx_bsl 1.16's RunInference)
# cannot log a string output such as "classes", so batch scoring calls this one.
SIGNATURE_BULK_INFERENCE = "bulk_inference"
INPUT_EXAMPLES = "examples"
INPUT_IMAGES = "images"
INPUT_IMAGE_BYTES = "image_bytes"
OUTPUT_PROBABILITIES = "probabilities"
OUTPUT_CLASS_IDS = "class_ids"
OUTPUT_CLASSES = "classes"  # the predicted class's name, from the dataset description

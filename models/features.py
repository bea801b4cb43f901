"""Feature names and label vocabulary shared by the data step, Transform, Trainer and clients.

One place for them so the raw schema, the transformed graph and the serving signatures can
never disagree.
"""

IMAGE_KEY = "image_raw"  # raw feature: PNG-encoded 32x32 RGB image bytes
LABEL_KEY = "label"  # raw feature: int64 class id in [0, NUM_CLASSES)
TRANSFORMED_IMAGE_KEY = "image"  # transformed feature: float32 [32, 32, 3] in [0, 1]

IMAGE_HEIGHT = 32
IMAGE_WIDTH = 32
IMAGE_CHANNELS = 3
IMAGE_SHAPE = (IMAGE_HEIGHT, IMAGE_WIDTH, IMAGE_CHANNELS)

# CIFAR-10's own order (batches.meta 'label_names'); index == class id.
LABEL_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
NUM_CLASSES = len(LABEL_NAMES)

# Serving signatures of the exported SavedModel and their inputs/outputs.
SIGNATURE_EXAMPLES = "serving_default"  # input: serialized tf.Example
SIGNATURE_IMAGES = "serving_images"  # input: uint8 [N, 32, 32, 3]
SIGNATURE_IMAGE_BYTES = "serving_image_bytes"  # input: encoded PNG/JPEG bytes
INPUT_EXAMPLES = "examples"
INPUT_IMAGES = "images"
INPUT_IMAGE_BYTES = "image_bytes"
OUTPUT_PROBABILITIES = "probabilities"
OUTPUT_CLASS_IDS = "class_ids"
OUTPUT_CLASSES = "classes"

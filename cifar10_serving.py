"""The model server and the example client with this project's defaults.

``serving/`` is a standalone TF-Serving-compatible package with TF Serving's own defaults
(REST off, model ``default``, a base path required). This thin CLI supplies the CIFAR-10
ones, so a newcomer can serve what the pipeline pushed with no flags:

    cifar10-serve [tensorflow_model_server flags]        # gRPC 8500, REST 8501, metrics on,
                                                         # loopback only (--host=0.0.0.0: all)
    cifar10-serve --model_name my_photos                 # the model a folder's run pushed
    python -m cifar10_serving client [--count 8] [--data-root DIR] [example client flags]

The model name defaults as the pipeline's ``--model-name`` does (``cifar10`` for CIFAR-10, the
data folder's name for an image folder, from ``$CIFAR10_DATA_ROOT``); a name given picks its
base path ``<serving root>/<name>``. The client sends test images of the data root (CIFAR's
test batch, or an image folder's test split) and compares the answers with their classes.

Every flag given on the command line wins over these defaults.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pipeline import configs
from rollout import settings as rollout_settings
from serving import defaults as serving_defaults

MONITORING_CONFIG = configs.REPO_ROOT / "deploy" / "serving" / "monitoring.config"


# Flags that choose the single-model form: given any, the rollout's models.config is not used.
_SINGLE_MODEL_FLAGS = ("--model_base_path", "--model-base-path", "--model_name", "--model-name")
_MODEL_NAME_FLAGS = ("--model_name", "--model-name")


def given_model_name(argv: Sequence[str]) -> str | None:
    """The ``--model_name`` (or ``--model-name``) on the command line, if any."""
    for i, arg in enumerate(argv):
        flag, _, value = arg.partition("=")
        if flag in _MODEL_NAME_FLAGS:
            return value or (argv[i + 1] if i + 1 < len(argv) else None)
    return None


def default_model_name(env: dict[str, str] | None = None) -> str:
    """The pipeline's rule (``pipeline.run_config.default_model_name``) on
    ``$CIFAR10_DATA_ROOT``: ``cifar10`` for CIFAR-10 (or no data root), else the folder's name."""
    from pipeline.run_config import default_model_name as pipeline_rule

    return pipeline_rule(None, "auto", dict(os.environ) if env is None else env)


def server_defaults(output_root: str | None = None, argv: Sequence[str] = ()) -> dict[str, object]:
    """The project's defaults: what rollout configures, on this machine only.

    When the serving root holds the ``models.config`` rollout keeps (labels ``stable`` /
    ``canary``), it is served and re-read, so labels resolve; otherwise the pushed
    model's base path. Listeners bind to loopback; ``--host=0.0.0.0`` opens them to every
    interface (TF Serving itself always binds every interface)."""
    root = Path(output_root or configs.DEFAULT_OUTPUT_ROOT).resolve()
    model_name = given_model_name(argv) or default_model_name()
    defaults: dict[str, object] = {
        "model_name": model_name,
        "host": serving_defaults.LOOPBACK,
        "port": serving_defaults.GRPC_PORT,
        "rest_api_port": serving_defaults.REST_PORT,
        "monitoring_config_file": str(MONITORING_CONFIG),
    }
    config = rollout_settings.model_config_path(root)
    single = any(a.split("=", 1)[0] in _SINGLE_MODEL_FLAGS for a in argv)
    if config.is_file() and not single:
        defaults["model_config_file"] = str(config)
        defaults["model_config_file_poll_wait_seconds"] = serving_defaults.MODEL_CONFIG_POLL_SECONDS
        # rollout may label a canary a moment before its version has loaded
        defaults["allow_version_labels_for_unavailable_models"] = True
    else:
        defaults["model_base_path"] = str(configs.serving_root(root) / model_name)
    return defaults


def serve_main(argv: list[str] | None = None) -> int:
    from models import keras_runtime

    keras_runtime.prepare_entry_point()  # before anything loads TensorFlow
    from serving import cli

    argv = sys.argv[1:] if argv is None else argv
    return cli.main(argv, defaults=server_defaults(argv=argv))


def client_main(argv: list[str] | None = None) -> int:
    """Send ``--count`` real test images (from the data root) and compare gRPC with REST."""
    from models import keras_runtime

    keras_runtime.prepare_entry_point()  # before anything loads TensorFlow
    from ingest import cifar10
    from ingest import settings as ingest_settings
    from ingest.errors import DataError
    from models import features
    from serving import example_client

    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--count", type=int, default=8)
    own.add_argument("--data-root")
    args, rest = own.parse_known_args(argv)
    images: list[bytes] = []
    truth: list[str] = []
    env = dict(os.environ)
    if args.data_root:
        env[ingest_settings.DATA_ROOT_ENV] = args.data_root
    if not any(a == "--image" or a.startswith("--image=") for a in rest):
        try:
            root = cifar10.resolve_data_root(args.data_root, env)
            images, truth = test_images(root, args.count)
        except (cifar10.CifarDataError, DataError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    return example_client.main(
        rest,
        defaults={
            "model": default_model_name(env),
            "signature": features.SIGNATURE_IMAGE_BYTES,
            "input": features.INPUT_IMAGE_BYTES,
            "output": features.OUTPUT_CLASSES,
        },
        images=images,
        truth=truth,
    )


def test_images(root: Path, count: int) -> tuple[list[bytes], list[str]]:
    """The first ``count`` test images of a data root, encoded, with their class names:
    CIFAR-10's test batch (as PNGs, ``batches.meta``'s names) or an image folder's test split
    as the pipeline carves it (each file as ingest stores it: as it is, or as PNG when
    TensorFlow cannot decode it as it is, e.g. WebP; the model resizes them)."""
    from ingest import cifar10, images
    from ingest import settings as ingest_settings
    from ingest.folder_plan import plan_folder
    from ingest.layout import detect_layout
    from models.dataset import CIFAR10
    from serving.image_codec import encode_png

    layout = detect_layout(root)
    if layout == ingest_settings.LAYOUT_CIFAR10:
        test = cifar10.load_test(root)
        names = CIFAR10.class_names
        labels = test.labels[:count]
        return [encode_png(i) for i in test.images[:count]], [names[int(k)] for k in labels]
    plan = plan_folder(root, layout)
    picked = [i for i in plan.images if i.split == ingest_settings.TEST_SPLIT][:count]
    encoded = [images.encoded_bytes(plan.path(i)) for i in picked]
    return encoded, [plan.class_names[i.label] for i in picked]


if __name__ == "__main__":
    argv = sys.argv[1:]
    if argv[:1] == ["client"]:
        sys.exit(client_main(argv[1:]))
    sys.exit(serve_main(argv))

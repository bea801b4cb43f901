"""The model server and the example client with this project's defaults.

``serving/`` is a standalone TF-Serving-compatible package with TF Serving's own defaults
(REST off, model ``default``, a base path required). This thin CLI supplies the CIFAR-10
ones, so a newcomer can serve what the pipeline pushed with no flags:

    cifar10-serve [tensorflow_model_server flags]        # gRPC 8500, REST 8501, metrics on,
                                                         # loopback only (--host=0.0.0.0: all)
    python -m cifar10_serving client [--count 8] [--data-root DIR] [example client flags]

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


def server_defaults(output_root: str | None = None, argv: Sequence[str] = ()) -> dict[str, object]:
    """The project's defaults: what rollout configures, on this machine only.

    When the serving root holds the ``models.config`` rollout keeps (labels ``stable`` /
    ``canary``), it is served and re-read, so labels resolve; otherwise the pushed
    model's base path. Listeners bind to loopback; ``--host=0.0.0.0`` opens them to every
    interface (TF Serving itself always binds every interface)."""
    root = Path(output_root or configs.DEFAULT_OUTPUT_ROOT).resolve()
    defaults: dict[str, object] = {
        "model_name": configs.MODEL_NAME,
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
        defaults["model_base_path"] = str(configs.serving_root(root) / configs.MODEL_NAME)
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
    from models import features
    from serving import example_client
    from serving.image_codec import encode_png

    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--count", type=int, default=8)
    own.add_argument("--data-root")
    args, rest = own.parse_known_args(argv)
    images: list[bytes] = []
    truth: list[str] = []
    if not any(a == "--image" or a.startswith("--image=") for a in rest):
        try:
            root = cifar10.resolve_data_root(args.data_root, dict(os.environ))
            cifar10.check_layout(root)  # one message naming the folder and the way out
            test = cifar10.load_test(root)
        except cifar10.CifarDataError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        images = [encode_png(i) for i in test.images[: args.count]]
        truth = [features.LABEL_NAMES[int(label)] for label in test.labels[: args.count]]
    return example_client.main(
        rest,
        defaults={
            "model": configs.MODEL_NAME,
            "signature": features.SIGNATURE_IMAGE_BYTES,
            "input": features.INPUT_IMAGE_BYTES,
            "output": features.OUTPUT_CLASSES,
        },
        images=images,
        truth=truth,
    )


if __name__ == "__main__":
    argv = sys.argv[1:]
    if argv[:1] == ["client"]:
        sys.exit(client_main(argv[1:]))
    sys.exit(serve_main(argv))

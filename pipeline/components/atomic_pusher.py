"""A Pusher whose versions appear atomically in the serving directory.

The stock Pusher copies files straight into ``<base>/<version>/``; a crash mid-copy leaves a
half-written version a model server may try to load. Here the copy goes to a hidden staging
folder (TF Serving ignores non-numeric names) and is renamed into place, so a version is
complete or absent. A version number that already exists is bumped instead of skipped, and
a model that is already served (same SavedModel fingerprint) is not pushed twice: an
unchanged re-run must not make a "new" version that would start a pointless canary.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any

from tfx.components import Pusher
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

FINGERPRINT_FILE = "fingerprint.pb"  # written by tf.saved_model.save since TF 2.12


def find_served_copy(model_path: str, base_directory: str) -> tuple[str, int] | None:
    """An existing version whose SavedModel fingerprint equals ``model_path``'s, if any."""
    source = os.path.join(model_path, FINGERPRINT_FILE)
    if not os.path.isfile(source) or not os.path.isdir(base_directory):
        return None
    with open(source, "rb") as f:
        want = f.read()
    for name in sorted(os.listdir(base_directory), key=lambda n: (len(n), n)):
        candidate = os.path.join(base_directory, name, FINGERPRINT_FILE)
        if name.isdigit() and os.path.isfile(candidate):
            with open(candidate, "rb") as f:
                if f.read() == want:
                    return os.path.join(base_directory, name), int(name)
    return None


def publish_atomically(model_path: str, base_directory: str, version: int) -> tuple[str, int]:
    """Copy ``model_path`` to ``<base>/<version>`` via a staging dir + rename; returns the
    path and version (of the existing copy when this exact model is already served)."""
    existing = find_served_copy(model_path, base_directory)
    if existing:
        return existing
    os.makedirs(base_directory, exist_ok=True)
    while os.path.exists(os.path.join(base_directory, str(version))):
        version += 1
    staging = os.path.join(base_directory, f".staging-{version}-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        shutil.copytree(model_path, staging)
        final = os.path.join(base_directory, str(version))
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final, version


class AtomicPusherExecutor(pusher_executor.Executor):
    """Stock Pusher semantics (blessing check, metadata) with an atomic filesystem push."""

    def Do(
        self,
        input_dict: dict[str, list[Any]],
        output_dict: dict[str, list[Any]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY]
        )
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination
        )
        if destination.WhichOneof("destination") != "filesystem":
            raise NotImplementedError("AtomicPusher only pushes to a filesystem destination")
        model_path = self.GetModelPath(input_dict)
        serving_path, version = publish_atomically(
            model_path, destination.filesystem.base_directory, int(time.time())
        )
        io_utils.copy_dir(model_path, model_push.uri)
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=str(version))


class AtomicPusher(Pusher):
    """The standard Pusher component, run by :class:`AtomicPusherExecutor`."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPusherExecutor)

"""The drift commands of ``cifar10-rollout``: the offline drift check of a folder of images, a
CIFAR batch or the data root's test split, and building a version's drift-signal reference.

The pipeline's Transform records no statistics (the Trainer applies the transform graph
itself), so a check compares images with the stable version's drift reference: the image
statistics and the model's outputs on the test split. The check builds that reference when
it is missing, and says exactly what to run when no version is stable yet.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from ingest import settings as ingest_settings
from rollout.canary.manager import RolloutError, RolloutManager


def data_root(args: argparse.Namespace) -> Path:
    """``--data-root``, else ``$CIFAR10_DATA_ROOT``, else the shared subset (one rule for
    every tool: ``ingest.cifar10.resolve_data_root``)."""
    from ingest import cifar10

    try:
        return cifar10.resolve_data_root(args.data_root, dict(os.environ))
    except cifar10.CifarDataError as e:
        raise RolloutError(str(e)) from e


def batch_path(args: argparse.Namespace) -> Path:
    """``--batch`` as a file, or as a batch name in the data root (``data_batch_5``);
    default: the data root's test batch."""
    if not args.batch:
        return data_root(args) / ingest_settings.TEST_BATCH
    given = Path(args.batch)
    if given.exists() or len(given.parts) > 1:
        return given
    return data_root(args) / args.batch


def build_reference(args: argparse.Namespace, manager: RolloutManager, version: int) -> Path:
    """Run ``version`` on the test split and save its drift-signal reference."""
    from ingest import cifar10
    from ingest.errors import DataError
    from models.dataset import DatasetDescriptionError, from_model
    from rollout.drift.reference import build_for_version, reference_images

    if version not in manager.versions_on_disk():
        raise RolloutError(f"version {version} is not in {manager.model_dir}")
    root = data_root(args)
    try:
        description = from_model(manager.model_dir / str(version))
        images = reference_images(root, description)
        return build_for_version(
            manager.paths, manager.model_dir, version, images, f"version {version} on {root}"
        )
    except (cifar10.CifarDataError, DataError, DatasetDescriptionError, ValueError) as e:
        raise RolloutError(str(e)) from e


def drift_reference(args: argparse.Namespace, manager: RolloutManager) -> int:
    """``drift-reference [VERSION]``: build the reference of a version (default: stable)."""
    version = args.version if args.version is not None else manager.state().stable
    if version is None:
        raise RolloutError("no stable version yet; name the version to build a reference for")
    path = build_reference(args, manager, version)
    print(f"drift reference of version {version}: {path}")
    return 0


def no_stable_version(manager: RolloutManager) -> str:
    """What to run when nothing is stable: the check has nothing to compare with."""
    versions = manager.versions_on_disk()
    if not versions:
        return (
            f"nothing to compare with: no model under {manager.model_dir}; run the pipeline "
            "first (scripts/run.sh), then make its pushed version stable (cifar10-rollout init)"
        )
    root = f"--output-root {manager.output_root} "
    return (
        "nothing to compare with: the drift check compares with the stable version's drift "
        "reference (the pipeline's Transform records no statistics), and no version is "
        f"stable yet (on disk: {', '.join(map(str, versions))}). Make the pushed model "
        "stable, then check again (the check builds the stable version's drift reference):\n"
        f"  cifar10-rollout {root}init {versions[-1]}\n"
        f"  cifar10-rollout {root}drift"
    )


def ensure_reference(args: argparse.Namespace, manager: RolloutManager) -> None:
    """Make sure the check has something to compare with (see the module docstring)."""
    from rollout.drift.monitor import DriftReferenceError, find_training_stats
    from rollout.drift.reference import load_for_version

    stable = manager.state().stable
    if stable is None:
        try:
            find_training_stats(manager.output_root)  # an older run's statistics still serve
        except DriftReferenceError:
            raise RolloutError(no_stable_version(manager)) from None
        return
    if load_for_version(manager.paths, stable) is None:
        print(f"no drift reference of stable version {stable} yet; building it", flush=True)
        path = build_reference(args, manager, stable)
        print(f"drift reference of version {stable}: {path}", flush=True)


def images_to_check(args: argparse.Namespace, manager: RolloutManager) -> tuple[Path, Any]:
    """(what, uint8 images) the offline check looks at: ``--batch`` as a folder of images (new
    photos, say: any layout, unlabelled, at the stable model's input shape) or as a CIFAR-10
    batch file; else the data root's test split: CIFAR-10's test batch, or an image folder's
    at the stable model's input shape (the images its drift reference was built from)."""
    from ingest import cifar10
    from ingest.layout import detect_layout
    from rollout.drift.reference import folder_images, reference_images

    if args.batch and Path(args.batch).is_dir():
        batch = Path(args.batch)
        images, left_out = folder_images(
            batch, stable_description(manager), manager.policy.drift.window_images
        )
        if left_out:
            print(f"left out of {batch}: {len(left_out)} file(s), e.g. {left_out[0]}")
        return batch, images
    if args.batch or detect_layout(data_root(args)) == ingest_settings.LAYOUT_CIFAR10:
        batch = batch_path(args)
        return batch, cifar10.load_batch(batch).images
    return data_root(args), reference_images(data_root(args), stable_description(manager))


def stable_description(manager: RolloutManager) -> Any:
    """The stable version's dataset description (its input shape and classes); CIFAR-10's
    when nothing is stable yet (the check then compares with training statistics)."""
    from models.dataset import CIFAR10, from_model

    stable = manager.state().stable
    model = manager.model_dir / str(stable) if stable is not None else None
    return from_model(model) if model is not None and model.is_dir() else CIFAR10


def check_drift(args: argparse.Namespace, manager: RolloutManager) -> int:
    """Offline drift check; exit 0 quiet, 3 drifted (an alert is recorded as well)."""
    from ingest import cifar10
    from ingest.errors import DataError
    from rollout.canary.monitoring import drift_monitor_for
    from rollout.drift import shifts
    from rollout.drift.monitor import DriftReferenceError

    if not args.training_stats:
        ensure_reference(args, manager)
    try:
        monitor = drift_monitor_for(
            manager,
            Path(args.training_stats) if args.training_stats else None,
            actor=args.actor or "cifar10-rollout drift",
        )
        batch, images = images_to_check(args, manager)
    except (DriftReferenceError, cifar10.CifarDataError, DataError, ValueError) as e:
        raise RolloutError(str(e)) from e
    images = shifts.apply(args.shift, images[: manager.policy.drift.window_images])
    probabilities, version = None, None
    if monitor.signals is not None and monitor.signals.version is not None:
        from rollout.drift.reference import predict_saved_model

        version = monitor.signals.version
        probabilities = predict_saved_model(manager.model_dir / str(version), images)
    reading = monitor.add(images, probabilities, version) or monitor.check()
    verdict = "DRIFT" if reading.drifted else "no drift"
    print(
        f"{verdict}: {reading.describe()} of {batch}"
        f"{'' if args.shift == 'none' else f' ({args.shift})'} vs "
        f"{monitor.reference.source}"
        f"{'' if version is None else f' and the drift reference of version {version}'}"
    )
    return 3 if reading.drifted else 0

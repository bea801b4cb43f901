"""A pipeline run's settings as one typed value, and the one parser of its flags.

Every runner turns its own input into a :class:`RunConfig`: ``beam_runner.py`` from its
command line, the Airflow DAG from ``$CIFAR10_PIPELINE_ARGS`` (the same flags, parsed here,
not by the CLI), the release loop in code. ``pipeline.runner.run(config)`` does the rest.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ingest import settings as ingest_settings
from models.hparams import HParams
from pipeline import configs
from pipeline.metadata_store import MYSQL_ENV, MySQLAddress, parse_mysql_address

ORCHESTRATORS = ("beam", "local")
BEAM_MODES = ("in_memory", "multi_threading", "multi_processing")
# Pipeline and TF Serving model names: safe in paths, URLs and ML Metadata.
NAME_PATTERN = r"[A-Za-z0-9_\-]{1,63}"


class RunConfigError(ValueError):
    """Run settings that cannot work (bad flags, an impossible combination)."""


@dataclass(frozen=True)
class RunConfig:
    output_root: Path = configs.DEFAULT_OUTPUT_ROOT
    pipeline_name: str = configs.PIPELINE_NAME
    metadata_mysql: MySQLAddress | None = None  # None: SQLite under the pipeline root
    data_root: Path | None = None  # None: $CIFAR10_DATA_ROOT, the shared subset, a download
    data_layout: str = ingest_settings.LAYOUT_AUTO  # or cifar10, image_folder, split_folders
    image_size: tuple[int, int] | None = None  # (height, width); None: the images' own size
    channels: int | None = None  # 1 or 3; None: 1 when every image is gray, else 3
    skip_bad_images: bool = False  # leave unusable images out (listed) instead of failing
    model_name: str = configs.MODEL_NAME  # TF Serving's: <serving_root>/<model_name>/<version>
    infer_dir: Path | None = None  # unlabelled images the blessed model scores (BulkInferrer)
    serving_root: Path | None = None  # None: <output_root>/serving
    limit: int | None = None  # first N train and N test images (smoke runs)
    span: int | None = None  # None: the latest span
    new_span: bool = False
    hparams: HParams = field(default_factory=HParams)
    train_steps: int | None = None
    accuracy_lower_bound: float | None = None  # None: configs.blessing_floor(class count)
    accuracy_max_drop: float = configs.ACCURACY_MAX_DROP
    infer_schema: bool = False
    orchestrator: str = "beam"
    beam_mode: str = configs.DEFAULT_DIRECT_RUNNING_MODE
    beam_workers: int = configs.DEFAULT_DIRECT_NUM_WORKERS
    beam_extra_args: tuple[str, ...] = ()  # passed to Beam untouched (e.g. another runner)
    enable_cache: bool = True
    infra_validation: bool = True  # query the candidate in a model server before the push
    tune_trials: int | None = None  # TFX Tuner with this trial budget; None: no tuning
    tune_epochs: int = configs.TUNE_EPOCHS  # epochs per tuning trial

    def __post_init__(self) -> None:
        object.__setattr__(self, "output_root", Path(self.output_root).resolve())
        if self.orchestrator not in ORCHESTRATORS:
            raise RunConfigError(f"orchestrator must be one of {ORCHESTRATORS}")
        if self.beam_mode not in BEAM_MODES:
            raise RunConfigError(f"beam mode must be one of {BEAM_MODES}")
        if self.limit is not None and self.limit < 1:
            raise RunConfigError("limit must be at least 1")
        if self.tune_trials is not None and self.tune_trials < 1:
            raise RunConfigError("--tune needs a trial budget of at least 1")
        if self.tune_epochs < 1:
            raise RunConfigError("--tune-epochs must be at least 1")
        if self.beam_workers < 1:
            raise RunConfigError("beam workers must be at least 1")
        if not re.fullmatch(NAME_PATTERN, self.model_name):
            raise RunConfigError("--model-name: 1-63 letters, digits, '_' or '-'")
        if not re.fullmatch(NAME_PATTERN, self.pipeline_name):
            raise RunConfigError("pipeline name: 1-63 letters, digits, '_' or '-'")
        if self.data_layout not in ingest_settings.LAYOUTS:
            raise RunConfigError(f"--data-layout must be one of {ingest_settings.LAYOUTS}")
        if self.channels is not None and self.channels not in (1, 3):
            raise RunConfigError(f"--channels must be 1 or 3, got {self.channels}")
        if self.image_size is not None:
            size = tuple(self.image_size)
            if len(size) != 2 or min(size) < 1:
                raise RunConfigError(f"--image-size must be two positive sizes, got {size}")
            object.__setattr__(self, "image_size", (int(size[0]), int(size[1])))

    # --- where things go --------------------------------------------------------------------
    @property
    def pipeline_root(self) -> Path:
        return configs.pipeline_root(self.output_root, self.pipeline_name)

    @property
    def examples_root(self) -> Path:
        return configs.examples_root(self.output_root, self.pipeline_name)

    @property
    def infer_examples_dir(self) -> Path:
        """Where the inference folder's images are written as tf.Examples (beside the spans)."""
        return self.examples_root / ingest_settings.INFER_EXAMPLES_DIRNAME

    @property
    def metadata_path(self) -> Path:
        """The SQLite file when ``metadata_mysql`` is None."""
        return configs.metadata_path(self.output_root, self.pipeline_name)

    @property
    def serving_model_dir(self) -> Path:
        """``<serving_root>/<model_name>``: the Pusher's base directory."""
        root = self.serving_root or configs.serving_root(self.output_root)
        return Path(root).resolve() / self.model_name

    @property
    def beam_pipeline_args(self) -> list[str]:
        return configs.beam_pipeline_args(
            self.beam_mode, self.beam_workers, list(self.beam_extra_args)
        )

    def with_changes(self, **changes: Any) -> RunConfig:
        """A copy with ``changes`` applied, checked like a new config: how a caller derives
        its run from a base one (the release loop: a new span, its own output root, epochs)
        instead of rebuilding flags. Names are RunConfig fields or :class:`HParams` fields
        (``epochs=3`` changes ``hparams``); an unknown name or a value out of range raises
        ``RunConfigError``. Paths may be given as strings."""
        own = {f.name for f in fields(self)}
        hparam_names = {f.name for f in fields(HParams)}
        unknown = sorted(set(changes) - own - hparam_names)
        if unknown:
            raise RunConfigError(f"unknown run setting(s) {unknown}")
        hparam_changes = {k: changes.pop(k) for k in list(changes) if k in hparam_names - own}
        for name in _PATH_FIELDS & set(changes):
            if changes[name] is not None:
                changes[name] = Path(changes[name])
        try:
            if hparam_changes:
                changes["hparams"] = replace(changes.get("hparams", self.hparams), **hparam_changes)
            return replace(self, **changes)
        except RunConfigError:
            raise
        except (TypeError, ValueError) as e:
            raise RunConfigError(str(e)) from e


_PATH_FIELDS = {"output_root", "data_root", "serving_root", "infer_dir"}


def default_model_name(data_root: Path | None, data_layout: str, env: dict[str, str]) -> str:
    """``cifar10`` for CIFAR-10 (the default data), else the data folder's name made safe
    for TF Serving's URLs (``my photos`` -> ``my-photos``)."""
    from ingest import layout as ingest_layout

    env_root = env.get(ingest_settings.DATA_ROOT_ENV)
    root = data_root or (Path(env_root) if env_root else None)
    if root is None:
        return configs.MODEL_NAME
    try:
        if ingest_layout.detect_layout(root, data_layout) == ingest_settings.LAYOUT_CIFAR10:
            return configs.MODEL_NAME
    except ValueError:  # no readable layout: the run will say so; the name is the folder's
        pass
    name = re.sub(r"[^A-Za-z0-9_\-]+", "-", Path(root).resolve().name).strip("-")[:63]
    return name or "images"


def parse_image_size(text: str) -> tuple[int, int]:
    """``HxW`` (``64x48``, or one number for a square) -> (height, width)."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*", text)
    if not match or int(match.group(1)) < 1 or int(match.group(2) or 1) < 1:
        raise RunConfigError(f"--image-size {text!r}: expected HxW, e.g. 64x64")
    height = int(match.group(1))
    return height, int(match.group(2) or height)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The run flags, for any command line that starts a pipeline run."""
    d, h = RunConfig, HParams
    p.add_argument(
        "--data-root",
        help="an image folder (DIR/<class>/<image>, or DIR/train/<class>/... and DIR/test/...) "
        f"or a cifar-10-batches-py folder (or ${ingest_settings.DATA_ROOT_ENV})",
    )
    p.add_argument(
        "--data-layout",
        choices=ingest_settings.LAYOUTS,
        default=d.data_layout,
        help="the data root's layout (auto: detected)",
    )
    p.add_argument(
        "--image-size",
        metavar="HxW",
        help="the model's input size; required when the images' sizes differ (each image is "
        "resized to it in the graph, in training and serving alike)",
    )
    p.add_argument(
        "--channels",
        type=int,
        choices=(1, 3),
        help="1 (gray) or 3 (colour); default: 1 when every image is gray, else 3",
    )
    p.add_argument(
        "--skip-bad-images",
        action="store_true",
        help="leave corrupt or unreadable images out (listed in the summary) instead of failing",
    )
    p.add_argument(
        "--model-name",
        help="the served model's name (default: cifar10 for CIFAR-10, else the data folder's name)",
    )
    p.add_argument(
        "--infer-dir",
        metavar="DIR",
        help="a folder of unlabelled images for the blessed model to score (TFX BulkInferrer); "
        "writes a predictions CSV",
    )
    p.add_argument(
        "--output-root",
        default=str(configs.DEFAULT_OUTPUT_ROOT),
        help=f"spans, pipeline artifacts and models (${configs.OUTPUT_ROOT_ENV})",
    )
    p.add_argument(
        "--pipeline-name",
        help="several pipelines may share one output root and ML Metadata store "
        "(default: the model name)",
    )
    p.add_argument(
        "--metadata-mysql",
        metavar="HOST:PORT/DB",
        default=os.environ.get(MYSQL_ENV) or None,
        help=f"ML Metadata on MySQL (or ${MYSQL_ENV}; user and password from "
        "$CIFAR10_MYSQL_USER / $CIFAR10_MYSQL_PASSWORD); default: SQLite "
        "under the pipeline root",
    )
    p.add_argument(
        "--serving-root", help="TF Serving model base path (default <output-root>/serving)"
    )
    p.add_argument("--limit", type=int, help="use only the first N train and N test images")
    p.add_argument("--span", type=int, help="run on this input span instead of the latest")
    p.add_argument(
        "--new-span", action="store_true", help="write a new span even if the data did not change"
    )
    p.add_argument("--epochs", type=int, default=h.epochs)
    p.add_argument("--batch-size", type=int, default=h.batch_size)
    p.add_argument("--learning-rate", type=float, default=h.learning_rate)
    p.add_argument("--train-steps", type=int, help="cap on training steps (default: full epochs)")
    p.add_argument(
        "--accuracy-lower-bound",
        type=float,
        default=d.accuracy_lower_bound,
        help="test accuracy a model needs to be blessed (default: as far above chance as 0.30 "
        "is for ten classes: 0.30 for CIFAR-10, 0.61 for two classes)",
    )
    p.add_argument("--accuracy-max-drop", type=float, default=d.accuracy_max_drop)
    p.add_argument(
        "--infer-schema",
        action="store_true",
        help="first run: infer the schema with SchemaGen instead of schema/schema.pbtxt",
    )
    p.add_argument(
        "--orchestrator",
        choices=ORCHESTRATORS,
        default=d.orchestrator,
        help="BeamDagRunner or LocalDagRunner",
    )
    p.add_argument(
        "--beam-mode", default=d.beam_mode, choices=BEAM_MODES, help="DirectRunner running mode"
    )
    p.add_argument("--beam-workers", type=int, default=d.beam_workers)
    p.add_argument("--no-cache", action="store_true", help="disable TFX caching")
    p.add_argument(
        "--tune",
        type=int,
        metavar="TRIALS",
        dest="tune_trials",
        help="tune hyperparameters first (TFX Tuner, this many trials); the best "
        "ones feed the Trainer",
    )
    p.add_argument("--tune-epochs", type=int, default=d.tune_epochs, help="epochs per tuning trial")
    p.add_argument(
        "--skip-infra-validation",
        action="store_true",
        help="push without first loading and querying the model in a server",
    )


def from_arguments(args: argparse.Namespace, beam_extra_args: list[str]) -> RunConfig:
    """The config for parsed :func:`add_arguments` flags (raises ``RunConfigError``)."""
    # One line naming the flag, its value and its range (not a dump of every setting).
    for flag, value, lowest, hparam in (
        ("--epochs", args.epochs, 1, True),
        ("--batch-size", args.batch_size, 1, True),
        ("--learning-rate", args.learning_rate, 0, True),
        ("--limit", args.limit, 1, False),
        ("--train-steps", args.train_steps, 1, False),
        ("--beam-workers", args.beam_workers, 1, False),
        ("--tune", args.tune_trials, 1, False),
        ("--tune-epochs", args.tune_epochs, 1, False),
    ):
        if value is not None and value < lowest:
            what = f"{flag} {value} (must be at least {lowest})"
            raise RunConfigError(
                f"hyperparameters out of range: {what}" if hparam else f"out of range: {what}"
            )
    try:
        hparams = HParams(
            epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate
        )
        mysql = parse_mysql_address(args.metadata_mysql) if args.metadata_mysql else None
    except ValueError as e:
        raise RunConfigError(str(e)) from e
    data_root = Path(args.data_root) if args.data_root else None
    model_name = args.model_name or default_model_name(
        data_root, args.data_layout, dict(os.environ)
    )
    return RunConfig(
        output_root=Path(args.output_root),
        pipeline_name=args.pipeline_name or model_name,
        metadata_mysql=mysql,
        data_root=data_root,
        data_layout=args.data_layout,
        image_size=parse_image_size(args.image_size) if args.image_size else None,
        channels=args.channels,
        skip_bad_images=args.skip_bad_images,
        model_name=model_name,
        infer_dir=Path(args.infer_dir) if args.infer_dir else None,
        serving_root=Path(args.serving_root) if args.serving_root else None,
        limit=args.limit,
        span=args.span,
        new_span=args.new_span,
        hparams=hparams,
        train_steps=args.train_steps,
        accuracy_lower_bound=args.accuracy_lower_bound,
        accuracy_max_drop=args.accuracy_max_drop,
        infer_schema=args.infer_schema,
        orchestrator=args.orchestrator,
        beam_mode=args.beam_mode,
        beam_workers=args.beam_workers,
        beam_extra_args=tuple(beam_extra_args),
        enable_cache=not args.no_cache,
        infra_validation=not args.skip_infra_validation,
        tune_trials=args.tune_trials,
        tune_epochs=args.tune_epochs,
    )


def split_beam_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """``[run flags] -- [Beam args]`` -> (run flags, Beam args)."""
    if "--" in argv:
        at = argv.index("--")
        return argv[:at], argv[at + 1 :]
    return argv, []


def parse(argv: list[str], prog: str | None = None, description: str | None = None) -> RunConfig:
    """Flags as a command line would give them; bad flags raise ``RunConfigError``."""
    flags, beam = split_beam_args(list(argv))
    p = _RaisingParser(
        prog=prog, description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    add_arguments(p)
    return from_arguments(p.parse_args(flags), beam)


def parse_string(flags: str, beam_args: str = "") -> RunConfig:
    """Flags and Beam args as shell-quoted strings (environment variables); Beam args after a
    ``--`` in ``flags`` come first."""
    run_flags, beam = split_beam_args(shlex.split(flags))
    return parse([*run_flags, "--", *beam, *shlex.split(beam_args)])


class _RaisingParser(argparse.ArgumentParser):
    """argparse exits on bad flags; a library caller (the Airflow DAG) needs an exception."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise RunConfigError(message)

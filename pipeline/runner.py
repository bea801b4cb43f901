"""Run the pipeline for a :class:`RunConfig`: the one run path every runner takes.

``beam_runner.py`` (a thin CLI) and the release loop call :func:`run`: prepare the input
span, open ML Metadata, build the pipeline, run it with one progress line per component
(the full log in a file), print the summary table, write the run's report, and return a
:class:`RunOutcome`. The Airflow DAG, whose orchestrator runs each component as its own
task, takes the same steps apart: :func:`prepare_run` as its first task, then the
components of :func:`build_pipeline`.

The report lives in a higher layer (``report``), so callers pass its writer in
(``write_report=report.write_run_report``).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

from pipeline import configs, metadata_store, progress, summary
from pipeline.run_config import RunConfig

# Exit codes shared by every command that runs the pipeline.
EXIT_OK = 0  # pushed, or cleanly not blessed
EXIT_PIPELINE_FAILED = 1
EXIT_BAD_INPUT = 2


class ReportWriter(Protocol):
    """Writes a run's report (``report.write_run_report``): from the ML Metadata connection
    and the output root, with the run's error if it failed; returns the report's path."""

    def __call__(self, connection: Any, output_root: Path, /, *, failure: str | None) -> Path: ...


@dataclass
class RunOutcome:
    exit_code: int
    summary: summary.RunSummary | None = None
    span: Any = None  # ingest.spans.SpanInfo when the input was prepared
    error: str | None = None  # what failed, in one line
    seconds: float = 0.0
    log_file: Path | None = None  # the run's full log (TFX, Beam, TensorFlow)
    report: Path | None = None  # the run's HTML report, when one was written
    inference: Any = None  # ingest.inference.InferenceExamples with --infer-dir

    @property
    def failed(self) -> bool:
        return self.exit_code != EXIT_OK


def metadata_connection_config(config: RunConfig) -> Any:
    """ML Metadata's connection: SQLite under the pipeline root, or MySQL if configured
    (raises ``MetadataStoreError`` when MySQL credentials are missing). Builds, writes
    nothing: the Airflow DAG calls it at parse time."""
    return metadata_store.connection_config(config.metadata_path, config.metadata_mysql)


def prepare_input(config: RunConfig) -> Any:
    """Find the raw data (CIFAR-10's batches or an image folder) and write (or reuse) the
    input span with its ``dataset.json``; raises ``ingest.errors.DataError`` (also known as
    ``CifarDataError``) naming the file or folder."""
    import os

    from ingest import cifar10, spans

    data_root = cifar10.resolve_data_root(
        str(config.data_root) if config.data_root else None, dict(os.environ)
    )
    return spans.prepare_span(
        data_root,
        config.examples_root,
        limit=config.limit,
        force_new=config.new_span,
        layout=config.data_layout,
        image_size=config.image_size,
        channels=config.channels,
        skip_bad_images=config.skip_bad_images,
    )


def check_model_input(description: Any) -> None:
    """Refuse, before any component runs, an input size the CNN cannot take (a dataset of
    tiny images without a larger ``--image-size``); raises ``DataError`` saying so."""
    from ingest.errors import DataError
    from models.model import pooling_stages

    try:
        pooling_stages(description.height, description.width)
    except ValueError as e:
        raise DataError(str(e)) from e


def prepare_inference(config: RunConfig) -> Any:
    """The ``--infer-dir`` images as unlabelled tf.Examples (None without one); corrupt files
    are listed, not fatal. Raises ``DataError`` when the folder is missing or holds no image."""
    if config.infer_dir is None:
        return None
    from ingest import inference

    return inference.prepare_inference_examples(config.infer_dir, config.infer_examples_dir)


def run_description(config: RunConfig) -> Any:
    """The dataset description of the span the run trains on (``--span``, else the latest),
    read from its ``dataset.json``; CIFAR-10 before any span exists (the Airflow DAG builds
    its pipeline before its first task writes one) or for a span older than descriptions."""
    from ingest import spans
    from models.dataset import CIFAR10, DatasetDescription

    numbers = spans.existing_spans(config.examples_root)
    number = config.span if config.span is not None else (numbers[-1] if numbers else None)
    if number is None:
        return CIFAR10
    folder = spans.span_dir(config.examples_root, number)
    if not (folder / "dataset.json").exists():
        return CIFAR10
    return DatasetDescription.load(folder)


def prepare_run(config: RunConfig) -> tuple[Any, Any]:
    """What must hold before any component runs: the input span (written or reused) and an
    ML Metadata store that opens. Returns (span, connection config); raises
    ``CifarDataError`` for bad data, ``MetadataStoreError`` for a store that does not open."""
    span = prepare_input(config)
    connection = metadata_connection_config(config)
    metadata_store.open_store(connection)
    return span, connection


def build_pipeline(config: RunConfig, metadata_connection: Any = None) -> Any:
    """The TFX pipeline for ``config``; every orchestrator (Beam, Local, Airflow) builds it
    here. ``metadata_connection`` defaults to :func:`metadata_connection_config`. The
    dataset description (:func:`run_description`) goes to Transform, Tuner and Trainer, and
    sets the label domain of the schema the run imports (:mod:`pipeline.run_schema`)."""
    from pipeline.pipeline import create_pipeline
    from pipeline.run_schema import SCHEMA_DIRNAME, run_schema_path

    description = run_description(config)
    schema_path = None
    if not config.infer_schema:
        schema_path = str(
            run_schema_path(configs.SCHEMA_PATH, description, config.pipeline_root / SCHEMA_DIRNAME)
        )

    return create_pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=str(config.pipeline_root),
        examples_root=str(config.examples_root),
        serving_model_dir=str(config.serving_model_dir),
        metadata_connection_config=(metadata_connection or metadata_connection_config(config)),
        beam_pipeline_args=config.beam_pipeline_args,
        preprocessing_fn=configs.PREPROCESSING_FN,
        run_fn=configs.RUN_FN,
        tuner_fn=configs.TUNER_FN,
        schema_path=schema_path,
        span=config.span,
        train_hparams=config.hparams.to_custom_config(),
        train_steps=config.train_steps,
        accuracy_lower_bound=config.accuracy_lower_bound,
        accuracy_max_drop=config.accuracy_max_drop,
        enable_cache=config.enable_cache,
        infra_validation=config.infra_validation,
        tune_trials=config.tune_trials,
        tune_epochs=config.tune_epochs,
        description=description,
        inference_examples_dir=str(config.infer_examples_dir) if config.infer_dir else None,
    )


def run(
    config: RunConfig,
    *,
    write_report: ReportWriter | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> RunOutcome:
    """The run path: span, store, pipeline with progress, summary table, report.

    Progress and the summary go to ``out``, errors to ``err`` (default: ``sys.stdout`` and
    ``sys.stderr`` as they are at the call). Never raises for bad data, an unreachable
    store or a failing component: the outcome says so (``exit_code``, ``error``), and
    nothing is pushed. A report that cannot be written is a warning, not a failure."""
    from ingest import cifar10

    out = out or sys.stdout
    err = err or sys.stderr
    started = time.monotonic()
    try:
        span = prepare_input(config)
        check_model_input(span.description)
        inference = prepare_inference(config)
    except cifar10.CifarDataError as e:
        print(f"error: {e}", file=err)
        return RunOutcome(EXIT_BAD_INPUT, error=str(e))
    for line in [
        *describe_input(span, inference),
        describe_blessing(config, span.description.num_classes),
    ]:
        print(line, file=out)
    log_file = config.output_root / "logs" / f"run-{time.strftime('%Y%m%d-%H%M%S')}.log"
    print(f"pipeline root: {config.pipeline_root}  (full log: {log_file})", file=out, flush=True)
    try:
        connection = metadata_connection_config(config)
        metadata_store.open_store(connection)
    except metadata_store.MetadataStoreError as e:  # nothing ran
        print(f"error: {e}", file=err)
        return RunOutcome(EXIT_PIPELINE_FAILED, span=span, error=str(e), log_file=log_file)
    with progress.captured(log_file, out) as tracker:
        outcome = execute(config, span, connection)
    outcome.inference = inference
    outcome.seconds = time.monotonic() - started
    outcome.log_file = log_file
    if outcome.summary is not None:
        print(file=out)
        print(summary.format_table(outcome.summary, tracker.durations), file=out)
    print(f"total: {outcome.seconds:.1f}s", file=out)
    if write_report is not None:
        try:
            outcome.report = write_report(connection, config.output_root, failure=outcome.error)
            print(f"report: {outcome.report}", file=out)
        except Exception as e:  # the run's outcome stands without its report
            print(f"warning: could not write the run report: {e}", file=err)
    if outcome.error is not None:
        print(f"\nerror: the pipeline failed: {outcome.error}", file=err)
        print("nothing was pushed; previously pushed models are untouched", file=err)
    return outcome


def describe_blessing(config: RunConfig, num_classes: int) -> str:
    """The Evaluator's gate in one line, so a user sees what "blessed" will mean for this data."""
    floor = configs.blessing_floor(num_classes, config.accuracy_lower_bound)
    origin = (
        f"the default for {num_classes} classes; chance is {1 / num_classes:.4f}"
        if config.accuracy_lower_bound is None
        else "--accuracy-lower-bound"
    )
    return (
        f"blessing: test accuracy at least {floor:.4f} ({origin}) and at most "
        f"{config.accuracy_max_drop:.4f} below the last blessed model"
    )


def class_list(names: tuple[str, ...], shown: int = 12) -> str:
    """Class names for one line: all of them up to ``shown``, else the first and last few
    (a 200-class dataset would fill the terminal; dataset.json has them all)."""
    if len(names) <= shown:
        return ", ".join(names)
    head, tail = names[: shown - 3], names[-2:]
    return (
        ", ".join(head) + f", ... ({len(names) - len(head) - len(tail)} more), " + ", ".join(tail)
    )


def describe_input(span: Any, inference: Any) -> list[str]:
    """What the run trains on (and scores), in a few lines: span, classes, shape, left out."""
    description = span.description
    lines = [
        f"input span {span.span} ({'reused' if span.reused else 'written'}): "
        + ", ".join(f"{k}={v}" for k, v in span.counts.items()),
        f"dataset: {description.num_classes} classes ({class_list(description.class_names)}), "
        f"model input {description.height}x{description.width}x{description.channels}",
    ]
    if span.ignored:
        lines.append(f"ignored: {len(span.ignored)} file(s) that are no images")
    for bad in span.bad_images:
        lines.append(f"skipped bad image: {bad.path}: {bad.reason}")
    if inference is not None:
        lines.append(
            f"inference images: {inference.count} "
            f"({'reused' if inference.reused else 'written'}), "
            f"{len(inference.bad_images)} unreadable"
        )
        lines += [f"unreadable: {b.path}: {b.reason}" for b in inference.bad_images]
    return lines


def execute(config: RunConfig, span: Any = None, connection: Any = None) -> RunOutcome:
    """Run the pipeline on the prepared input and read back what it did (no output of its
    own). ``connection``: an ML Metadata store already opened (:func:`prepare_run`); None
    builds and opens it here."""
    started = time.monotonic()
    if connection is None:
        try:
            connection = metadata_connection_config(config)
            metadata_store.open_store(connection)
        except metadata_store.MetadataStoreError as e:
            return RunOutcome(EXIT_PIPELINE_FAILED, span=span, error=str(e))
    error = None
    try:
        _orchestrator(config.orchestrator)().run(build_pipeline(config, connection))
    except Exception as e:  # any component failure ends the run with its message
        error = root_message(e)
    try:
        result = summary.read_run_from(connection, pipeline_name=config.pipeline_name)
    except metadata_store.store_errors() as e:  # the store was lost mid-run (its server died)
        lost = (
            f"ML Metadata ({metadata_store.describe(connection)}) is unreachable, so the "
            "run's results could not be read"
        )
        error = f"{error}; {lost}" if error else f"{lost}: {root_message(e) or type(e).__name__}"
        result = summary.RunSummary()
    return RunOutcome(
        EXIT_PIPELINE_FAILED if error else EXIT_OK, result, span, error, time.monotonic() - started
    )


def _orchestrator(name: str) -> Any:
    """BeamDagRunner (the default) or TFX's LocalDagRunner."""
    if name == "local":
        from tfx.orchestration.local.local_dag_runner import LocalDagRunner

        return LocalDagRunner
    from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

    return BeamDagRunner


def root_message(error: BaseException) -> str:
    """The innermost cause's message (Beam wraps component errors several layers deep)."""
    seen: BaseException = error
    while True:
        inner = seen.__cause__ or seen.__context__
        if inner is None:
            break
        seen = inner
    text = str(seen) or str(error)
    return text.strip().split("\n [while running")[0]

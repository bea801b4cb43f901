"""Run the pipeline for a :class:`RunConfig`: the one entry every runner uses.

``beam_runner.py`` (a thin CLI), the Airflow DAG and the release loop all call into here,
so "prepare the input span, build the pipeline, run it, say what happened" has one
implementation. Nothing here touches logging or prints: callers decide how to show
progress (``pipeline.progress``) and what to do with the :class:`RunOutcome`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pipeline import configs, metadata_store, summary
from pipeline.run_config import RunConfig

# Exit codes shared by every command that runs the pipeline.
EXIT_OK = 0  # pushed, or cleanly not blessed
EXIT_PIPELINE_FAILED = 1
EXIT_BAD_INPUT = 2


@dataclass
class RunOutcome:
    exit_code: int
    summary: summary.RunSummary | None = None
    span: Any = None  # ingest.spans.SpanInfo when the input was prepared
    error: str | None = None  # what failed, in one line
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.exit_code != EXIT_OK


def metadata_connection_config(config: RunConfig) -> Any:
    """ML Metadata's connection: SQLite under the pipeline root, or MySQL if configured
    (raises ``MetadataStoreError`` when MySQL credentials are missing)."""
    return metadata_store.connection_config(config.metadata_path, config.metadata_mysql)


def prepare_input(config: RunConfig) -> Any:
    """Find the raw data and write (or reuse) the input span; raises ``CifarDataError``."""
    import os

    from ingest import cifar10, spans

    data_root = cifar10.resolve_data_root(
        str(config.data_root) if config.data_root else None, dict(os.environ)
    )
    return spans.prepare_span(
        data_root, config.examples_root, limit=config.limit, force_new=config.new_span
    )


def build_pipeline(config: RunConfig, metadata_connection: Any = None) -> Any:
    """The TFX pipeline for ``config``; every orchestrator (Beam, Local, Airflow) builds it
    here. ``metadata_connection`` defaults to :func:`metadata_connection_config`."""
    from pipeline.pipeline import create_pipeline

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
        schema_path=None if config.infer_schema else str(configs.SCHEMA_PATH),
        span=config.span,
        train_hparams=config.hparams.to_custom_config(),
        train_steps=config.train_steps,
        accuracy_lower_bound=config.accuracy_lower_bound,
        accuracy_max_drop=config.accuracy_max_drop,
        enable_cache=config.enable_cache,
        infra_validation=config.infra_validation,
        tune_trials=config.tune_trials,
        tune_epochs=config.tune_epochs,
    )


def run(config: RunConfig) -> RunOutcome:
    """Prepare the span, run the pipeline, read back what it did. Never raises for bad data
    or a failing component: the outcome says so (``exit_code``, ``error``)."""
    from ingest import cifar10

    try:
        span = prepare_input(config)
    except cifar10.CifarDataError as e:
        return RunOutcome(EXIT_BAD_INPUT, error=str(e))
    return execute(config, span)


def execute(config: RunConfig, span: Any = None) -> RunOutcome:
    """Run the pipeline on the prepared input and read back what it did."""
    started = time.monotonic()
    try:
        connection = metadata_connection_config(config)
        if config.metadata_mysql is None:
            config.metadata_path.parent.mkdir(parents=True, exist_ok=True)
        metadata_store.check_connection(connection)
    except metadata_store.MetadataStoreError as e:
        return RunOutcome(EXIT_PIPELINE_FAILED, span=span, error=str(e))
    error = None
    try:
        _orchestrator(config.orchestrator)().run(build_pipeline(config, connection))
    except Exception as e:  # any component failure ends the run with its message
        error = root_message(e)
    result = summary.read_run_from(connection, pipeline_name=config.pipeline_name)
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

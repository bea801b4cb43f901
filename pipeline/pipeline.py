"""The CIFAR-10 TFX pipeline *definition*: components and their wiring, no runner code.

Beam (``beam_runner.py``) and Airflow (``airflow_dags/``) both call :func:`create_pipeline`
with the same arguments; only the orchestrator differs.
"""

from __future__ import annotations

from typing import Any

import tensorflow_model_analysis as tfma

# Direct module imports rather than `tfx.v1`: the latter pulls in the Google Cloud
# extensions and costs ~12 s of start-up on every run (measured on this machine).
from tfx.components import (
    BulkInferrer,
    Evaluator,
    ExampleValidator,
    ImportExampleGen,
    SchemaGen,
    StatisticsGen,
    Trainer,
    Transform,
    Tuner,
)
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import (
    bulk_inferrer_pb2,
    example_gen_pb2,
    pusher_pb2,
    range_config_pb2,
    trainer_pb2,
    transform_pb2,
)

from ingest import settings as ingest_settings
from models import dataset, features
from pipeline import configs, evaluation_metrics
from pipeline.components.anomalies_gate import AnomaliesGate
from pipeline.components.atomic_pusher import AtomicPusher
from pipeline.components.baseline_resolver import baseline_model_resolver
from pipeline.components.infra_validation.component import infra_validator
from pipeline.components.predictions_writer import PredictionsWriter

INFERENCE_SPLIT = "infer"


def input_config() -> example_gen_pb2.Input:
    """One pattern per split; ``{SPAN}`` lets ExampleGen pick the latest (or a given) span."""
    return example_gen_pb2.Input(
        splits=[
            example_gen_pb2.Input.Split(
                name=split, pattern=f"{ingest_settings.SPAN_DIR_PREFIX}{{SPAN}}/{split}/*"
            )
            for split in (
                ingest_settings.TRAIN_SPLIT,
                ingest_settings.EVAL_SPLIT,
                ingest_settings.TEST_SPLIT,
            )
        ]
    )


def eval_config(accuracy_lower_bound: float, accuracy_max_drop: float) -> tfma.EvalConfig:
    """Bless on test-split accuracy: an absolute floor plus "no worse than the baseline"."""
    accuracy_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": accuracy_lower_bound}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -accuracy_max_drop}
        ),
    )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=features.SIGNATURE_EXAMPLES,
                # A plain SavedModel signature: without a type, TFMA revives the whole Keras
                # model (several times) only to find out what kind of model it is.
                model_type=tfma.TF_GENERIC,
                label_key=features.LABEL_KEY,
                prediction_key=features.OUTPUT_PROBABILITIES,
                preprocessing_function_names=[],
            )
        ],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[features.LABEL_KEY])],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    # Gate on the overall slice only; per-class slices are reported, not gated.
                    tfma.MetricConfig(
                        class_name="SparseCategoricalAccuracy",
                        module=evaluation_metrics.__name__,
                        per_slice_thresholds=[
                            tfma.PerSliceMetricThreshold(
                                slicing_specs=[tfma.SlicingSpec()], threshold=accuracy_threshold
                            )
                        ],
                    ),
                ]
            )
        ],
    )


def create_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    examples_root: str,
    serving_model_dir: str,
    metadata_connection_config: Any,
    beam_pipeline_args: list[str],
    preprocessing_fn: str,
    run_fn: str,
    tuner_fn: str = configs.TUNER_FN,
    schema_path: str | None = str(configs.SCHEMA_PATH),
    span: int | None = None,
    train_hparams: dict[str, Any] | None = None,
    train_steps: int | None = None,
    accuracy_lower_bound: float | None = None,
    accuracy_max_drop: float = configs.ACCURACY_MAX_DROP,
    enable_cache: bool = True,
    infra_validation: bool = True,
    tune_trials: int | None = None,
    tune_epochs: int = configs.TUNE_EPOCHS,
    description: dataset.DatasetDescription | None = None,
    inference_examples_dir: str | None = None,
) -> tfx_pipeline.Pipeline:
    """Build the pipeline.

    ``preprocessing_fn`` / ``run_fn``: dotted paths of the module code (never module files:
    TFX would package a wheel of it at parse time, tfx#4381).
    ``schema_path``: curated schema to import; ``None`` infers one with SchemaGen (first run).
    ``span``: a fixed input span; ``None`` takes the latest.
    ``infra_validation``: load the candidate in a model server and query it before the push
    (InfraValidator; see pipeline/components/infra_validation/).
    ``tune_trials``: add TFX's Tuner with this trial budget (``tune_epochs`` each); its best
    hyperparameters feed the Trainer (module code: models/tuning.py). None: no tuning.
    ``description``: the dataset (ingest's ``dataset.json``), handed to Transform, Tuner and
    Trainer through ``custom_config``; None: CIFAR-10, as the module code defaults to.
    ``accuracy_lower_bound``: the blessing floor; None: ``configs.blessing_floor``'s default
    for the description's class count.
    ``inference_examples_dir``: unlabelled examples (``ingest.inference``) that TFX's
    BulkInferrer scores with the blessed model; PredictionsWriter turns its result into a CSV.
    """
    data_config = {dataset.CUSTOM_CONFIG_KEY: description.to_dict()} if description else {}
    range_config = None
    if span is not None:
        range_config = range_config_pb2.RangeConfig(
            static_range=range_config_pb2.StaticRange(start_span_number=span, end_span_number=span)
        )
    example_gen = ImportExampleGen(
        input_base=examples_root, input_config=input_config(), range_config=range_config
    )
    if schema_path:
        schema_gen = ImportSchemaGen(schema_file=schema_path)
        # With the curated schema, statistics follow its domains (the image is bytes).
        statistics_gen = StatisticsGen(
            examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"]
        )
    else:
        statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
        schema_gen = SchemaGen(
            statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True
        )
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    anomalies_gate = AnomaliesGate(anomalies=example_validator.outputs["anomalies"])

    transform = Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=preprocessing_fn,
        splits_config=transform_pb2.SplitsConfig(analyze=[ingest_settings.TRAIN_SPLIT]),
        # The Trainer applies the transform graph itself (see models/model.py): writing
        # transformed pixels cost more than decoding PNGs; StatisticsGen covers the data.
        materialize=False,
        disable_statistics=True,
        custom_config=data_config or None,
    )
    transform.add_upstream_node(anomalies_gate)

    tuner = None
    if tune_trials:
        tuner = Tuner(
            tuner_fn=tuner_fn,
            examples=example_gen.outputs["examples"],
            transform_graph=transform.outputs["transform_graph"],
            schema=schema_gen.outputs["schema"],
            train_args=trainer_pb2.TrainArgs(
                splits=[ingest_settings.TRAIN_SPLIT], num_steps=train_steps
            ),
            eval_args=trainer_pb2.EvalArgs(splits=[ingest_settings.EVAL_SPLIT]),
            custom_config={
                **(train_hparams or {}),
                **data_config,
                "max_trials": tune_trials,
                "epochs": tune_epochs,
            },
        )

    trainer = Trainer(
        run_fn=run_fn,
        examples=example_gen.outputs["examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=trainer_pb2.TrainArgs(
            splits=[ingest_settings.TRAIN_SPLIT], num_steps=train_steps
        ),
        eval_args=trainer_pb2.EvalArgs(splits=[ingest_settings.EVAL_SPLIT]),
        custom_config={**(train_hparams or {}), **data_config},
        hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None,
    )

    model_resolver = baseline_model_resolver(candidate=trainer.outputs["model"])

    evaluator = Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=model_resolver.outputs["model"],
        eval_config=eval_config(
            configs.blessing_floor(
                (description or dataset.CIFAR10).num_classes, accuracy_lower_bound
            ),
            accuracy_max_drop,
        ),
        example_splits=[ingest_settings.TEST_SPLIT],
    )

    infra = (
        infra_validator(model=trainer.outputs["model"], examples=example_gen.outputs["examples"])
        if infra_validation
        else None
    )
    pusher = AtomicPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        infra_blessing=infra.outputs["blessing"] if infra else None,
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=serving_model_dir)
        ),
    ).with_id("Pusher")

    inference = (
        inference_components(inference_examples_dir, trainer, evaluator, pusher)
        if inference_examples_dir
        else []
    )

    return tfx_pipeline.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=[
            example_gen,
            statistics_gen,
            schema_gen,
            example_validator,
            anomalies_gate,
            transform,
            *([tuner] if tuner else []),
            trainer,
            model_resolver,
            evaluator,
            *([infra] if infra else []),
            pusher,
            *inference,
        ],
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args,
    )


def inference_components(
    inference_examples_dir: str, trainer: Any, evaluator: Any, pusher: Any
) -> list[Any]:
    """ImportExampleGen of the inference examples -> BulkInferrer -> PredictionsWriter.

    The BulkInferrer takes the Evaluator's blessing: an unblessed model scores nothing. It
    calls ``bulk_inference`` (tf.Examples in, the very graph serving runs, without the string
    output its RunInference cannot log); the writer waits
    for the Pusher so each row names the TF Serving version that answers the same way.
    """
    examples = ImportExampleGen(
        input_base=inference_examples_dir,
        input_config=example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name=INFERENCE_SPLIT, pattern="data-*")]
        ),
    ).with_id("InferenceExampleGen")
    bulk_inferrer = BulkInferrer(
        examples=examples.outputs["examples"],
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        data_spec=bulk_inferrer_pb2.DataSpec(),
        model_spec=bulk_inferrer_pb2.ModelSpec(
            model_signature_name=[features.SIGNATURE_BULK_INFERENCE]
        ),
    )
    writer = PredictionsWriter(
        inference_result=bulk_inferrer.outputs["inference_result"],
        model=trainer.outputs["model"],
        pushed_model=pusher.outputs["pushed_model"],
        inference_examples_dir=inference_examples_dir,
    )
    return [examples, bulk_inferrer, writer]

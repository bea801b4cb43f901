"""Tuning benchmark: the Tuner's best hyperparameters vs the defaults, same data and epochs.

    .venv/bin/python beam_runner.py --output-root /tmp/tune-base --epochs 5   # once
    .venv/bin/python -m bench.bench_tuning --pipeline-root /tmp/tune-base/pipelines/cifar10

On the ExampleGen and Transform outputs of a real pipeline run (the latest of each under
``--pipeline-root``), it runs what the pipeline runs with tuning on, through TFX's own
executors: the Tuner (``models.tuning.tuner_fn``, ``--trials`` x ``--trial-epochs``), then
the Trainer (``models.model.run_fn``) with its ``best_hyperparameters``, and the Trainer
without them (today's default run), each for ``--epochs`` epochs and each ``--seeds``.
Every exported model is scored on the test split through its ``serving_default``
signature (the split the Evaluator gates on; the Tuner never sees it, the Trainer uses
the eval split for validation and early stopping). Writes one JSON document to ``--out``
(Keras prints its progress on stdout) and prints it last.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from models import keras_runtime

keras_runtime.prepare_entry_point()  # before anything loads TensorFlow

import tensorflow as tf  # noqa: E402
from tfx.components.trainer import executor as trainer_executor  # noqa: E402
from tfx.components.tuner import executor as tuner_executor  # noqa: E402
from tfx.dsl.components.base import base_executor  # noqa: E402
from tfx.proto import trainer_pb2  # noqa: E402
from tfx.types import artifact_utils, standard_artifacts  # noqa: E402
from tfx.utils import json_utils, proto_utils  # noqa: E402

from models import features, model, tuning  # noqa: E402
from models.hparams import HParams  # noqa: E402

SPLITS = '["train", "eval", "test"]'


def latest(folder: Path) -> Path:
    """The newest artifact under a component output folder (TFX names them by execution id)."""
    ids = sorted((p for p in folder.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    if not ids:
        raise SystemExit(f"no artifact under {folder}: run beam_runner.py first")
    return ids[-1]


def artifacts(pipeline_root: Path) -> tuple[Any, Any]:
    examples = standard_artifacts.Examples()
    examples.uri = str(latest(pipeline_root / "ImportExampleGen" / "examples"))
    examples.split_names = SPLITS
    graph = standard_artifacts.TransformGraph()
    graph.uri = str(latest(pipeline_root / "Transform" / "transform_graph"))
    return examples, graph


def common_properties(custom_config: dict[str, Any]) -> dict[str, Any]:
    return {
        "train_args": proto_utils.proto_to_json(trainer_pb2.TrainArgs(splits=["train"])),
        "eval_args": proto_utils.proto_to_json(trainer_pb2.EvalArgs(splits=["eval"])),
        "custom_config": json_utils.dumps(custom_config),
    }


def run_tuner(
    examples: Any, graph: Any, work: Path, custom_config: dict[str, Any]
) -> tuple[Any, list[dict], float]:
    best = standard_artifacts.HyperParameters()
    best.uri = str(work / "best_hyperparameters")
    results = standard_artifacts.TunerResults()
    results.uri = str(work / "tuner_results")
    executor = tuner_executor.Executor(
        base_executor.BaseExecutor.Context(tmp_dir=str(work / "tmp"), unique_id="tuner")
    )
    started = time.monotonic()
    executor.Do(
        {"examples": [examples], "transform_graph": [graph]},
        {"best_hyperparameters": [best], "tuner_results": [results]},
        {"tuner_fn": "models.tuning.tuner_fn", **common_properties(custom_config)},
    )
    seconds = time.monotonic() - started
    rows = json.loads((Path(results.uri) / "tuner_results.json").read_text())
    return best, rows, seconds


def run_trainer(
    examples: Any, graph: Any, work: Path, custom_config: dict[str, Any], best: Any | None
) -> tuple[Path, float, dict]:
    model_artifact = standard_artifacts.Model()
    model_artifact.uri = str(work / "model")
    model_run = standard_artifacts.ModelRun()
    model_run.uri = str(work / "model_run")
    inputs = {"examples": [examples], "transform_graph": [graph]}
    if best is not None:
        inputs["hyperparameters"] = [best]
    executor = trainer_executor.GenericExecutor(
        base_executor.BaseExecutor.Context(tmp_dir=str(work / "tmp"), unique_id="trainer")
    )
    started = time.monotonic()
    executor.Do(
        inputs,
        {"model": [model_artifact], "model_run": [model_run]},
        {"run_fn": "models.model.run_fn", **common_properties(custom_config)},
    )
    seconds = time.monotonic() - started
    history = json.loads((Path(model_run.uri) / model.HISTORY_FILE).read_text())
    return Path(model_artifact.uri) / "Format-Serving", seconds, history


def test_accuracy(serving_dir: Path, examples: Any) -> tuple[float, int]:
    """Accuracy on the test split through the exported examples signature."""
    predict = tf.saved_model.load(str(serving_dir)).signatures[features.SIGNATURE_EXAMPLES]
    [test_uri] = artifact_utils.get_split_uris([examples], "test")
    records = list(
        tf.data.TFRecordDataset(
            tf.io.gfile.glob(f"{test_uri}/*"), compression_type="GZIP"
        ).as_numpy_iterator()
    )
    correct = 0
    for start in range(0, len(records), 256):
        batch = records[start : start + 256]
        labels = [
            tf.train.Example.FromString(r).features.feature[features.LABEL_KEY].int64_list.value[0]
            for r in batch
        ]
        ids = predict(examples=tf.constant(batch))[features.OUTPUT_CLASS_IDS].numpy()
        correct += int(sum(int(i) == int(y) for i, y in zip(ids, labels, strict=True)))
    return correct / len(records), len(records)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench_tuning", description=__doc__.split("\n\n")[0])
    p.add_argument("--pipeline-root", type=Path, required=True)
    p.add_argument("--work", type=Path, default=Path("/tmp/bench-tuning"))
    p.add_argument("--trials", type=int, default=4)
    p.add_argument("--trial-epochs", type=int, default=5)
    p.add_argument(
        "--epochs", type=int, default=HParams.epochs, help="Trainer epochs, tuned and default alike"
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[HParams.seed])
    p.add_argument("--out", type=Path, help="report file (default: <work>/report.json)")
    args = p.parse_args(argv)

    examples, graph = artifacts(args.pipeline_root)
    best, rows, tuner_seconds = run_tuner(
        examples,
        graph,
        args.work / "tuner",
        {"max_trials": args.trials, "epochs": args.trial_epochs},
    )
    best_values = json.loads((Path(best.uri) / "best_hyperparameters.txt").read_text())["values"]

    runs: dict[str, list[dict]] = {"default": [], "tuned": []}
    for seed in args.seeds:
        for name, hp_artifact in (("default", None), ("tuned", best)):
            work = args.work / f"{name}-seed{seed}"
            serving_dir, seconds, history = run_trainer(
                examples, graph, work, {"epochs": args.epochs, "seed": seed}, hp_artifact
            )
            accuracy, n_test = test_accuracy(serving_dir, examples)
            last = history["epochs"][-1]
            runs[name].append(
                {
                    "seed": seed,
                    "trainer_seconds": round(seconds, 1),
                    "epochs_trained": len(history["epochs"]),
                    "eval_accuracy_last_epoch": round(last["val_sparse_categorical_accuracy"], 4),
                    "test_accuracy": round(accuracy, 4),
                    "test_images": n_test,
                }
            )
            print(json.dumps({name: runs[name][-1]}), file=sys.stderr, flush=True)

    report = {
        "search": {
            "trials": args.trials,
            "epochs_per_trial": args.trial_epochs,
            "tuner_seconds": round(tuner_seconds, 1),
            "best_values": best_values,
            "trials_by_score": [
                {k: (round(v, 5) if isinstance(v, float) else v) for k, v in row.items()}
                for row in rows
            ],
        },
        "trainer_epochs": args.epochs,
        "runs": runs,
        "mean_test_accuracy": {
            name: round(statistics.mean(r["test_accuracy"] for r in rs), 4)
            for name, rs in runs.items()
        },
        "default_search_space": {name: getattr(HParams(), name) for name in tuning.TUNED},
    }
    text = json.dumps(report, indent=1)
    out = args.out or args.work / "report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

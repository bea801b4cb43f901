"""Everything the report shows about one run, gathered from ML Metadata and the artifacts.

Each fact is read on its own and a failure to read one (a failed run, a missing or corrupt
artifact) is recorded in ``problems`` instead of raised: the report must come out for any run,
and say what it could not show and why.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ingest import settings as ingest_settings
from models.dataset import CIFAR10, CUSTOM_CONFIG_KEY, DatasetDescription
from pipeline import summary
from pipeline.components.anomalies_gate import describe_anomalies
from report import data, evaluation
from report.dataset import run_description
from report.evaluation import EvaluationFacts, Predictions
from report.examples import unique_images

T = TypeVar("T")
PIXEL_SPLITS = (ingest_settings.TRAIN_SPLIT, ingest_settings.EVAL_SPLIT, ingest_settings.TEST_SPLIT)


@dataclass
class RunFacts:
    summary: summary.RunSummary
    output_root: Path
    generated: float = field(default_factory=time.time)
    failure: str | None = None  # the error that ended the run, if it failed
    dataset: DatasetDescription = CIFAR10  # what the run's span holds (class names, shape)
    dataset_source: str = ""  # where the description was read from
    data: data.DataFacts = field(default_factory=data.DataFacts)
    anomalies: list[str] | None = None  # None: ExampleValidator produced nothing to read
    schema_text: str | None = None
    schema_uri: str | None = None
    history: dict[str, Any] | None = None
    hparams: dict[str, Any] = field(default_factory=dict)
    evaluation: EvaluationFacts | None = None
    predictions: Predictions | None = None
    parameters: int | None = None
    log_file: Path | None = None
    problems: list[str] = field(default_factory=list)  # "<what>: <why it is not shown>"

    @property
    def failed_nodes(self) -> list[str]:
        return [e.node for e in self.summary.executions if e.state in ("FAILED", "CANCELED")]

    @property
    def failed(self) -> bool:
        return bool(self.failed_nodes) or self.failure is not None

    @property
    def model_uri(self) -> str | None:
        model = self.summary.output("Trainer", "model")
        return model.uri if model else None


def _attempt(facts: RunFacts, what: str, read: Callable[[], T]) -> T | None:
    try:
        return read()
    except Exception as e:  # any unreadable artifact becomes a note on the page
        facts.problems.append(f"{what}: {type(e).__name__}: {e}")
        return None


def collect(
    connection_config,
    output_root: Path,
    run_id: str | None = None,
    failure: str | None = None,
    predict: bool = True,
) -> RunFacts:
    """All facts of run ``run_id`` (the latest if None). ``failure``: the runner's error
    message when it has one; otherwise a failed run's message is looked up in its log."""
    run = summary.read_run_from(connection_config, run_id)
    facts = RunFacts(summary=run, output_root=Path(output_root), failure=failure)
    if run.run_id is None:
        facts.problems.append("ML Metadata: no pipeline run recorded yet")
        return facts
    log_file = facts.log_file = _attempt(facts, "run log", lambda: find_run_log(facts))
    if facts.failure is None and facts.failed_nodes and log_file:
        facts.failure = _attempt(facts, "run log", lambda: error_from_log(log_file))

    described = _attempt(facts, "dataset description", lambda: run_description(run))
    if described is not None:
        facts.dataset, facts.dataset_source = described
    dataset = facts.dataset
    examples = run.output("ImportExampleGen", "examples")
    statistics = run.output("StatisticsGen", "statistics")
    anomalies = run.output("ExampleValidator", "anomalies")
    schema = run.output("ImportSchemaGen", "schema") or run.output("SchemaGen", "schema")
    model_run = run.output("Trainer", "model_run")
    evaluation_artifact = run.output("Evaluator", "evaluation")

    if examples is not None:
        facts.data.span = examples.properties.get("span")
        splits = _split_names(examples.properties)
        for split in [s for s in PIXEL_SPLITS if s in splits]:
            stats = _attempt(
                facts,
                f"pixel statistics ({split})",
                functools.partial(data.pixel_stats, examples.uri, split, dataset),
            )
            if stats is not None:
                facts.data.pixels.append(stats)
    if statistics is not None:
        facts.data.splits = (
            _attempt(
                facts,
                "StatisticsGen statistics",
                lambda: data.read_statistics(
                    statistics.uri, _split_names(statistics.properties), dataset.num_classes
                ),
            )
            or []
        )
    if examples is not None:
        for split_stats in facts.data.splits:
            if split_stats.image_unique is None:
                split_stats.image_unique = _attempt(
                    facts,
                    f"unique images ({split_stats.name})",
                    functools.partial(unique_images, examples.uri, split_stats.name),
                )
    if anomalies is not None:
        facts.anomalies = _attempt(
            facts,
            "ExampleValidator anomalies",
            lambda: describe_anomalies(anomalies.uri, _split_names(anomalies.properties)),
        )
    if schema is not None:
        facts.schema_uri = schema.uri
        facts.schema_text = _attempt(
            facts, "schema", lambda: Path(schema.uri, "schema.pbtxt").read_text()
        )
    if model_run is not None:
        from models.model import HISTORY_FILE

        facts.history = _attempt(
            facts,
            "training history",
            lambda: json.loads(Path(model_run.uri, HISTORY_FILE).read_text()),
        )
    trainer = next((e for e in run.executions if e.node == "Trainer"), None)
    if trainer is not None and "custom_config" in trainer.properties:
        settings = _attempt(
            facts, "Trainer settings", lambda: json.loads(trainer.properties["custom_config"])
        )
        # The description is shown on its own; the settings table keeps the hyperparameters.
        facts.hparams = {k: v for k, v in (settings or {}).items() if k != CUSTOM_CONFIG_KEY}
    if evaluation_artifact is not None:
        facts.evaluation = _attempt(
            facts,
            "Evaluator metrics",
            lambda: evaluation.read_evaluation(evaluation_artifact.uri, dataset.num_classes),
        )
    model_uri = facts.model_uri
    if predict and model_uri and examples is not None:
        facts.predictions = _attempt(
            facts,
            "test-split predictions",
            lambda: evaluation.predict_test_split(model_uri, examples.uri, dataset),
        )
        facts.parameters = _attempt(
            facts, "model parameters", lambda: evaluation.count_parameters(model_uri)
        )
    return facts


def _split_names(properties: dict[str, Any]) -> list[str]:
    raw = properties.get("split_names")
    return json.loads(raw) if isinstance(raw, str) else list(PIXEL_SPLITS)


_LOG_NAME = re.compile(r"run-(\d{8}-\d{6})\.log$")


def find_run_log(facts: RunFacts) -> Path | None:
    """The runner's log of this run: the newest ``logs/run-<start>.log`` started before the
    run context was created and written to after it."""
    started = facts.summary.run_started or 0.0
    best = None
    for path in sorted((facts.output_root / "logs").glob("run-*.log")):
        match = _LOG_NAME.search(path.name)
        if not match:
            continue
        opened = time.mktime(time.strptime(match.group(1), "%Y%m%d-%H%M%S"))
        if opened <= started + 1 and path.stat().st_mtime >= started - 1:
            best = path
    return best


_ERROR_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit)\b.*")


def error_from_log(log_file: Path, limit: int = 2000) -> str | None:
    """The last exception line of the log and the indented lines after it (the message)."""
    lines = log_file.read_text(errors="replace").splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if _ERROR_LINE.match(lines[i]):
            message = [lines[i]]
            for line in lines[i + 1 :]:
                if not line.startswith((" ", "\t")) or line.strip().startswith("[while"):
                    break
                message.append(line)
            return "\n".join(message)[:limit]
    return None

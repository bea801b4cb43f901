"""Which dataset a run trained on: the description its input span carries.

Ingest writes ``dataset.json`` beside every span and the pipeline hands the same description
to Transform and the Trainer (``custom_config``), so the report reads it from ML Metadata:
the span folder ImportExampleGen read (its ``input_base`` and the examples' ``span``), else
the description a component was configured with. Runs recorded before descriptions existed
were CIFAR-10 runs and read as :data:`models.dataset.CIFAR10`.
"""

from __future__ import annotations

import json
from pathlib import Path

from ingest.spans import span_dir
from models.dataset import (
    CIFAR10,
    CUSTOM_CONFIG_KEY,
    DESCRIPTION_FILE,
    DatasetDescription,
    from_custom_config,
)
from pipeline.summary import RunSummary

# Components whose custom_config holds the description (pipeline/pipeline.py).
CONFIGURED_NODES = ("Trainer", "Transform", "Tuner")


def run_description(run: RunSummary) -> tuple[DatasetDescription, str]:
    """The run's dataset description and where it was read from (shown on the page).

    Raises :class:`~models.dataset.DatasetDescriptionError` when a description is present
    but unreadable: guessing another dataset's classes would mislabel every table.
    """
    span_file = _span_description_file(run)
    if span_file is not None and span_file.is_file():
        return DatasetDescription.load(span_file), str(span_file)
    for node in CONFIGURED_NODES:
        execution = next((e for e in run.executions if e.node == node), None)
        raw = execution.properties.get("custom_config") if execution else None
        if not raw:
            continue
        config = json.loads(raw) if isinstance(raw, str) else raw
        if isinstance(config, dict) and config.get(CUSTOM_CONFIG_KEY):
            return from_custom_config(config), f"the {node}'s custom_config"
    return CIFAR10, "none recorded (a run from before descriptions: CIFAR-10)"


def _span_description_file(run: RunSummary) -> Path | None:
    examples = run.output("ImportExampleGen", "examples")
    execution = next((e for e in run.executions if e.node == "ImportExampleGen"), None)
    if examples is None or execution is None:
        return None
    input_base, span = execution.properties.get("input_base"), examples.properties.get("span")
    if not input_base or span is None:
        return None
    return span_dir(Path(str(input_base)), int(span)) / DESCRIPTION_FILE


def dataset_title(description: DatasetDescription) -> str:
    """A short name of the dataset for page titles: CIFAR-10, or the image folder's name."""
    source = description.source
    if source.get("kind") == "cifar10":
        return "CIFAR-10"
    return Path(str(source.get("path") or "")).name or "image dataset"

"""Celery settings of the CIFAR-10 Airflow workers: Airflow's own, plus TFX loaded once.

A Celery worker runs each task in a process it forks, and that process first loads the
pipeline's file, which imports TFX: 20-40 s per task here, more than most components take.
Celery's ``imports`` setting loads TFX in the worker before it forks its pool, so every task
process starts with it in memory and loads the file in a second or two. Only workers read
``imports``; the scheduler, which sends tasks through the same app, does not load TFX for it.

Selected with ``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=celery_worker_config.CELERY_CONFIG``
(this folder is on every Airflow process's ``sys.path``).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

# What the pipeline file imports, slowest last: ``pipeline`` first, as it selects Keras 2
# before anything loads TensorFlow; TFX's orchestrator pulls in TensorFlow, Beam, TFMA and
# ML Metadata.
PRELOADED_MODULES = ("pipeline.runner", "tfx.orchestration.airflow.airflow_dag_runner")

CELERY_CONFIG: dict[str, Any] = {**DEFAULT_CELERY_CONFIG, "imports": PRELOADED_MODULES}

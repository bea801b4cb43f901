"""What a scheduler asks the release loop between runs: is a retrain request waiting?

Importing this module is cheap (no TF, TFX or release code): the Airflow release DAG's
sensor (``airflow_dags/cifar10_airflow_settings.py``, which also builds the scheduled
``cifar10-release`` command from the environment) calls it on every poke.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline import configs
from rollout.state import StatePaths


def retrain_request_pending(output_root: Path | str | None = None) -> bool:
    """True when a retrain request waits (cheap: one stat; for sensors)."""
    root = output_root or os.environ.get(configs.OUTPUT_ROOT_ENV) or configs.DEFAULT_OUTPUT_ROOT
    return StatePaths.for_output_root(root).retrain_request.exists()

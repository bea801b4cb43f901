"""``cifar10-release`` for schedulers (airflow_dags/cifar10_release_dag.py): its flags from
the environment, a cheap check for a pending retrain request, and a run that fails loudly.

Importing this module is cheap (the release code is imported only by ``run_scheduled``): a
sensor calls ``retrain_request_pending`` on every poke.
"""

from __future__ import annotations

import os
from pathlib import Path

from ingest import settings as ingest_settings
from pipeline import configs
from rollout.state import StatePaths

RELEASE_ARGS_ENV = "CIFAR10_RELEASE_ARGS"  # extra cifar10-release flags, e.g. --server/--router


def scheduled_argv(env: dict[str, str] | None = None) -> list[str]:
    """``cifar10-release --if-retrain-requested`` flags from the environment: the output and
    data roots (the pipeline's variables) plus ``$CIFAR10_RELEASE_ARGS``."""
    import shlex

    env = dict(os.environ if env is None else env)
    argv = ["--if-retrain-requested"]
    if env.get(configs.OUTPUT_ROOT_ENV):
        argv += ["--output-root", env[configs.OUTPUT_ROOT_ENV]]
    if env.get(ingest_settings.DATA_ROOT_ENV):
        argv += ["--data-root", env[ingest_settings.DATA_ROOT_ENV]]
    return argv + shlex.split(env.get(RELEASE_ARGS_ENV, ""))


def retrain_request_pending(output_root: Path | str | None = None) -> bool:
    """True when a retrain request waits (cheap: one stat; for sensors)."""
    root = output_root or os.environ.get(configs.OUTPUT_ROOT_ENV) or configs.DEFAULT_OUTPUT_ROOT
    return StatePaths.for_output_root(root).retrain_request.exists()


def run_scheduled(env: dict[str, str] | None = None) -> int:
    """Run one scheduled release; raises when it did not end with the new model serving
    (rolled back, not blessed, failed), so the scheduler shows the run as failed."""
    from rollout.release import cli  # the release code, only when a run is due

    argv = scheduled_argv(env)
    code = cli.main(argv)
    if code != 0:
        raise RuntimeError(
            f"cifar10-release {' '.join(argv)} exited {code}; the retrain "
            "request's outcome is in the rollout history"
        )
    return code

"""Drift that retrains, under Airflow: DAG ``cifar10_release``.

Every 10 minutes a sensor looks for a retrain request (filed by the canary router when
drift monitoring alerts with ``on_drift: retrain``). When one is there, ``retrain_and_release``
runs ``cifar10-release --if-retrain-requested``: it claims the request (exactly once, even
if a ``cifar10-release --watch`` elsewhere races it), trains on the newest data span,
evaluates, canaries, and promotes or rolls back, marking the request done or failed with
the reason. No request: the sensor times out softly and the run is skipped, not failed.

Settings from the environment of every Airflow process (as the ``cifar10`` DAG):
``CIFAR10_OUTPUT_ROOT``, ``CIFAR10_DATA_ROOT``, and ``CIFAR10_RELEASE_ARGS`` (extra
``cifar10-release`` flags; in production ``--server <model server REST> --router <router
REST>`` so the canary runs on the real serving stack, not an in-process one).

Parsing imports only Airflow and the standard library: the release code (TF, TFX) is
imported when the task runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.models.dag import DAG
from airflow.operators.python import PythonOperator
from airflow.sensors.python import PythonSensor

DAG_ID = "cifar10_release"
SENSOR_TASK_ID = "wait_for_retrain_request"
RELEASE_TASK_ID = "retrain_and_release"
SCHEDULE = timedelta(minutes=10)


def _pending() -> bool:
    from rollout.release.scheduled import retrain_request_pending

    return retrain_request_pending()


def _release() -> int:
    from rollout.release.scheduled import run_scheduled

    return run_scheduled()


with DAG(
    dag_id=DAG_ID,
    description="drift alert -> retrain on the newest span -> evaluate -> canary -> "
    "promote or roll back",
    schedule=SCHEDULE,
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,  # one release at a time; the claim makes a second one harmless anyway
    default_args={"owner": "ml-platform", "retries": 0},  # a claimed request is not re-run
    tags=["cifar10", "rollout"],
    doc_md=__doc__,
) as dag:
    wait = PythonSensor(
        task_id=SENSOR_TASK_ID,
        python_callable=_pending,
        mode="reschedule",
        poke_interval=60,
        timeout=int(SCHEDULE.total_seconds()) - 60,
        soft_fail=True,
    )
    release = PythonOperator(
        task_id=RELEASE_TASK_ID, python_callable=_release, execution_timeout=timedelta(hours=6)
    )
    wait >> release

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

Parsing imports only Airflow and the DAG settings (``cifar10_airflow_settings.py``, which
also own this DAG's id, schedule, owner, start date, timeout and ``CIFAR10_RELEASE_ARGS``):
the release code (TF, TFX) is imported when the task runs.
"""

from __future__ import annotations

# the DAG folder is on sys.path; the settings import no Airflow, TF or TFX
import cifar10_airflow_settings as settings
from airflow.models.dag import DAG
from airflow.operators.python import PythonOperator
from airflow.sensors.python import PythonSensor

SENSOR_TASK_ID = "wait_for_retrain_request"
RELEASE_TASK_ID = "retrain_and_release"


def _pending() -> bool:
    return settings.retrain_request_pending()


def _release() -> int:
    return settings.run_release()


with DAG(
    dag_id=settings.RELEASE_DAG_ID,
    description="drift alert -> retrain on the newest span -> evaluate -> canary -> "
    "promote or roll back",
    schedule=settings.RELEASE_SCHEDULE,
    start_date=settings.START_DATE,
    catchup=False,
    max_active_runs=1,  # one release at a time; the claim makes a second one harmless anyway
    default_args={"owner": settings.OWNER, "retries": 0},  # a claimed request is not re-run
    tags=list(settings.RELEASE_TAGS),
    doc_md=__doc__,
) as dag:
    wait = PythonSensor(
        task_id=SENSOR_TASK_ID,
        python_callable=_pending,
        mode="reschedule",
        poke_interval=settings.RELEASE_SENSOR_POKE_SECONDS,
        timeout=settings.RELEASE_SENSOR_TIMEOUT_SECONDS,
        soft_fail=True,
    )
    release = PythonOperator(
        task_id=RELEASE_TASK_ID,
        python_callable=_release,
        execution_timeout=settings.EXECUTION_TIMEOUT,
    )
    wait >> release

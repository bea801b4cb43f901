"""kill -9 of the database under ML Metadata while a release's pipeline runs, under steady
client load: the release stops with a message and nothing is pushed, the stable version
keeps serving every request, and once the database is back the next release trains,
pushes and finishes its rollout (promote or roll back) on the same ML Metadata."""

from __future__ import annotations

import pytest

from pipeline import metadata_store
from tests.chaos.stack import ChaosStack, Counts
from tests.chaos.test_kills import EXIT_PROMOTED, EXIT_ROLLED_BACK, check_outcome
from tests.mariadb_server import PASSWORD, USER, MariaDBServer, restartable_mariadb

pytestmark = pytest.mark.slow

# A small real run: the point is where the database dies, not the model.
PIPELINE = ["--limit", "300", "--epochs", "1", "--accuracy-lower-bound", "0"]
KILL_AFTER_LINE = "Trainer ... running"  # the pipeline's progress line (pipeline.progress)
PIPELINE_TIMEOUT = 600.0


@pytest.fixture
def metadata_db(tmp_path):
    with restartable_mariadb(tmp_path / "mariadb") as server:
        yield server


def start_pipeline_release(stack: ChaosStack, db: MariaDBServer):
    """``cifar10-release`` with its pipeline run, ML Metadata on ``db`` (credentials from
    the environment, as in production)."""
    return stack.start_release(
        pipeline=[*PIPELINE, "--", "--metadata-mysql", db.db.address()],
        env={metadata_store.MYSQL_USER_ENV: USER, metadata_store.MYSQL_PASSWORD_ENV: PASSWORD},
    )


def running_executions(db: MariaDBServer) -> int:
    """Executions ML Metadata still records as RUNNING (``last_known_state`` 2)."""
    return int(db.db.sql("SELECT count(*) FROM mlmd.Execution WHERE last_known_state = 2"))


@pytest.mark.timeout(1500)
def test_killing_ml_metadatas_database_mid_pipeline_pushes_nothing_and_loses_no_request(
    chaos, metadata_db
):
    stable_before = chaos.check_consistent().stable
    on_disk_before = chaos.manager.versions_on_disk()
    before = chaos.client_totals()
    release = start_pipeline_release(chaos, metadata_db)
    try:
        release.wait_for_log(KILL_AFTER_LINE, timeout=PIPELINE_TIMEOUT)
        metadata_db.kill()
        release.popen.wait(timeout=PIPELINE_TIMEOUT)
    finally:
        release.stop()
    code, log = release.popen.returncode, release.log_text()
    assert code not in (EXIT_PROMOTED, EXIT_ROLLED_BACK), log
    assert "Traceback" not in log.split(KILL_AFTER_LINE)[-1][-2000:], log[-3000:]
    assert chaos.manager.versions_on_disk() == on_disk_before, "a model was pushed"
    assert chaos.check_consistent().stable == stable_before
    counts = Counts.between(before, chaos.client_totals())
    assert counts.sent > 0 and counts.failed == 0, counts

    metadata_db.start()  # the database host comes back (same data, address and port)
    release = start_pipeline_release(chaos, metadata_db)
    try:
        release.popen.wait(timeout=PIPELINE_TIMEOUT)
    finally:
        release.stop()
    code, log = release.popen.returncode, release.log_text()
    assert code in (EXIT_PROMOTED, EXIT_ROLLED_BACK), log
    (version,) = set(chaos.manager.versions_on_disk()) - set(on_disk_before)
    check_outcome(chaos, version, stable_before, code, log)
    counts = Counts.between(before, chaos.client_totals())
    print(f"ML Metadata's database killed mid-pipeline: {counts}, next release exit {code}")
    assert counts.failed == 0, counts
    # The killed run's component stays RUNNING in ML Metadata (TFX's Beam runner never
    # closes it; the report shows it so); the next run's all ended.
    assert running_executions(metadata_db) <= 1

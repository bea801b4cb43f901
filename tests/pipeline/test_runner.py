"""The one run path (pipeline.runner.run) up to the first component, and the steps it shares
with the Airflow DAG (prepare_run, metadata_store.open_store). Full runs: test_pipeline_e2e."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pipeline import configs, metadata_store, run_config, runner
from pipeline.run_config import RunConfig
from tests.cifar_fixtures import write_cifar_layout
from tests.support.ports import free_port


def test_bad_data_is_one_error_line_and_nothing_written(tmp_path):
    config = RunConfig(output_root=tmp_path / "out", data_root=tmp_path / "absent")
    out, err = io.StringIO(), io.StringIO()
    reports: list[str | None] = []

    def write_report(connection, output_root, /, *, failure):
        reports.append(failure)
        return output_root / "report.html"

    outcome = runner.run(config, write_report=write_report, out=out, err=err)
    assert outcome.exit_code == runner.EXIT_BAD_INPUT and outcome.failed
    assert outcome.summary is None and outcome.span is None
    assert err.getvalue().startswith("error: data root") and err.getvalue().count("\n") == 1
    assert "does not exist" in (outcome.error or "")
    assert out.getvalue() == "" and reports == [], "nothing ran: no progress, no report"
    assert not (tmp_path / "out").exists()


def test_a_store_that_does_not_open_stops_the_run_before_any_component(tmp_path, monkeypatch):
    data = write_cifar_layout(tmp_path / "raw", per_batch=4, n_test=6)
    monkeypatch.setenv(metadata_store.MYSQL_USER_ENV, "mlmd")
    address = metadata_store.parse_mysql_address(f"127.0.0.1:{free_port()}/mlmd")
    config = RunConfig(output_root=tmp_path / "out", data_root=data, metadata_mysql=address)
    out, err = io.StringIO(), io.StringIO()
    outcome = runner.run(config, out=out, err=err)
    assert outcome.exit_code == runner.EXIT_PIPELINE_FAILED
    assert outcome.span is not None and outcome.span.span == 1
    assert "input span 1 (written): train=18, eval=2, test=6" in out.getvalue()
    assert "cannot open ML Metadata (MySQL mlmd@127.0.0.1" in err.getvalue()
    assert not config.pipeline_root.exists(), "no component ran"


def test_a_store_lost_mid_run_ends_it_with_a_message_not_a_traceback(tmp_path, monkeypatch):
    """Its server died while the run went on (tests/chaos kills MariaDB for real): the
    run's results cannot be read back, so the run fails saying so, the components' own
    failure first."""
    from ml_metadata import errors

    class FailingRunner:
        def run(self, pipeline):
            raise RuntimeError("Error while resolving inputs for Trainer")

    def lost(*args, **kwargs):
        raise errors.InternalError("mysql_query failed: Lost connection to MySQL server")

    data = write_cifar_layout(tmp_path / "raw", per_batch=4, n_test=6)
    config = RunConfig(output_root=tmp_path / "out", data_root=data)
    span, connection = runner.prepare_run(config)
    monkeypatch.setattr(runner, "_orchestrator", lambda name: FailingRunner)
    monkeypatch.setattr(runner.summary, "read_run_from", lost)
    outcome = runner.execute(config, span, connection)
    assert outcome.exit_code == runner.EXIT_PIPELINE_FAILED and outcome.summary.pushed is None
    assert outcome.error == (
        f"Error while resolving inputs for Trainer; ML Metadata (SQLite {config.metadata_path}) "
        "is unreachable, so the run's results could not be read"
    )
    monkeypatch.setattr(
        runner, "_orchestrator", lambda name: type("Ok", (), {"run": lambda self, p: None})
    )
    alone = runner.execute(config, span, connection).error
    assert alone is not None and alone.endswith(
        "could not be read: mysql_query failed: Lost connection to MySQL server"
    )


def test_prepare_run_writes_the_span_and_opens_sqlite_in_its_new_folder(tmp_path):
    data = write_cifar_layout(tmp_path / "raw", per_batch=4, n_test=6)
    config = RunConfig(output_root=tmp_path / "out", data_root=data)
    assert not config.metadata_path.parent.exists()
    span, connection = runner.prepare_run(config)
    assert span.span == 1 and not span.reused
    assert connection.sqlite.filename_uri == str(config.metadata_path)
    assert config.metadata_path.is_file(), "the store was opened, so its schema exists"
    again, _ = runner.prepare_run(config)
    assert again.span == 1 and again.reused


def test_building_the_connection_writes_nothing(tmp_path):
    config = RunConfig(output_root=tmp_path / "out")
    connection = runner.metadata_connection_config(config)
    assert connection.sqlite.filename_uri == str(configs.metadata_path(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_with_changes_derives_a_checked_config():
    base = RunConfig(output_root=Path("/tmp/base"), limit=100)
    derived = base.with_changes(
        output_root="/tmp/release", new_span=True, epochs=2, accuracy_lower_bound=0.0
    )
    assert derived.output_root == Path("/tmp/release") and derived.new_span
    assert derived.hparams.epochs == 2 and derived.hparams.batch_size == base.hparams.batch_size
    assert derived.limit == 100 and derived.accuracy_lower_bound == 0.0
    assert base.hparams.epochs != 2 and not base.new_span, "the base is unchanged"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"epoch": 3}, r"unknown run setting\(s\) \['epoch'\]"),
        ({"epochs": 0}, "hyperparameters out of range"),
        ({"limit": 0}, "limit must be at least 1"),
        ({"orchestrator": "kubeflow"}, "orchestrator must be one of"),
    ],
)
def test_with_changes_refuses_unknown_names_and_bad_values(changes, message):
    from pipeline.run_config import RunConfigError

    with pytest.raises(RunConfigError, match=message):
        RunConfig().with_changes(**changes)


def test_the_run_trains_on_the_description_of_its_span(tmp_path):
    from models.dataset import CIFAR10

    config = RunConfig(output_root=tmp_path, pipeline_name="pets", model_name="pets")
    assert runner.run_description(config) == CIFAR10  # no span yet (Airflow's first parse)
    pets = CIFAR10.with_changes(class_names=("cat", "dog"), height=64, width=48, channels=1)
    for span, description in ((1, CIFAR10), (2, pets)):
        folder = config.examples_root / f"span-{span}"
        folder.mkdir(parents=True)
        description.save(folder)
    assert runner.run_description(config) == pets  # the latest span
    assert runner.run_description(config.with_changes(span=1)) == CIFAR10


def test_the_blessing_line_says_where_the_floor_comes_from(tmp_path):
    config = run_config.parse(["--output-root", str(tmp_path)])
    assert runner.describe_blessing(config, 2) == (
        "blessing: test accuracy at least 0.6111 (the default for 2 classes; chance is 0.5000) "
        "and at most 0.0100 below the last blessed model"
    )
    asked = config.with_changes(accuracy_lower_bound=0.25)
    assert "at least 0.2500 (--accuracy-lower-bound)" in runner.describe_blessing(asked, 2)


def test_many_classes_are_shortened_to_one_line():
    names = tuple(f"class {i:03d}" for i in range(200))
    assert runner.class_list(names[:12]) == ", ".join(names[:12])
    shortened = runner.class_list(names)
    assert shortened.startswith("class 000, class 001") and "... (189 more)" in shortened
    assert shortened.endswith("class 198, class 199") and "class 100" not in shortened


def test_the_input_lines_name_classes_shape_and_what_was_left_out():
    from ingest.inference import InferenceExamples
    from ingest.spans import SpanInfo
    from ingest.walk import Skipped
    from models.dataset import CIFAR10

    pets = CIFAR10.with_changes(class_names=("cat", "dog"), height=64, width=48, channels=1)
    span = SpanInfo(
        3,
        Path("/x"),
        {"train": 8, "eval": 1, "test": 2},
        False,
        pets,
        ignored=(Skipped(".DS_Store", "hidden"),),
        bad_images=(Skipped("cat/bad.jpg", "corrupt"),),
    )
    inference = InferenceExamples(Path("/i"), 4, True, (), (Skipped("x.png", "truncated"),))
    assert runner.describe_input(span, inference) == [
        "input span 3 (written): train=8, eval=1, test=2",
        "dataset: 2 classes (cat, dog), model input 64x48x1",
        "ignored: 1 file(s) that are no images",
        "skipped bad image: cat/bad.jpg: corrupt",
        "inference images: 4 (reused), 1 unreadable",
        "unreadable: x.png: truncated",
    ]


def test_an_input_too_small_for_the_cnn_is_bad_input():
    from ingest.errors import DataError
    from models.dataset import CIFAR10

    runner.check_model_input(CIFAR10)
    with pytest.raises(DataError, match="4x4 is too small.*--image-size"):
        runner.check_model_input(CIFAR10.with_changes(height=4, width=4))

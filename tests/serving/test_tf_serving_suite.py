"""``serving.testing.tf_serving_suite``: laying out a TF Serving checkout's model-server tests
with the server shim, running them, and the tally. TF Serving's real tests are not part of
this repository; a stand-in checkout here holds a small absltest file of our own that
starts the shim the way TF Serving's test base starts ``tensorflow_model_server``."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from serving.testing import tf_serving_suite as suite

STAND_IN_TEST = textwrap.dedent(
    '''
    """Stand-in for TF Serving's model-server test: the shim answers --version."""
    import os
    import subprocess

    from absl.testing import absltest

    ROOT = os.path.join(os.environ["TEST_SRCDIR"], "tf_serving/tensorflow_serving")


    class StandIn(absltest.TestCase):
        def test_shim_runs_our_server(self):
            binary = os.path.join(ROOT, "model_servers", "tensorflow_model_server")
            out = subprocess.run([binary, "--version"], capture_output=True, text=True,
                                 timeout=120)
            self.assertIn("TensorFlow ModelServer", out.stdout)

        def test_testdata_is_laid_out(self):
            path = os.path.join(ROOT, "servables/tensorflow/testdata/model.txt")
            with open(path) as f:
                self.assertEqual(f.read(), "half_plus_two")

        def test_tf_text(self):
            self.fail("no TF Text here")

        def test_something_else(self):
            self.fail("a real difference")

        @absltest.skip("not on this machine")
        def test_gpu(self):
            pass


    if __name__ == "__main__":
        absltest.main()
    '''
)


def make_checkout(root: Path) -> Path:
    files = {
        suite.TEST_FILE: STAND_IN_TEST,
        suite.SUITE_PATHS[1]: "# the test base\n",
        f"{suite.SUITE_PATHS[2]}/model.txt": "half_plus_two",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_from_a_bare_repository_only_head_is_used(tmp_path):
    work = make_checkout(tmp_path / "work")
    git(work, "init", "-q")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "suite")
    (work / suite.TEST_FILE).write_text("# uncommitted: not HEAD\n")
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True, timeout=60)

    missing = suite.extract_suite(bare, tmp_path / "out")
    assert missing == []
    assert (tmp_path / "out" / suite.TEST_FILE).read_text() == STAND_IN_TEST
    assert (tmp_path / "out" / suite.SUITE_PATHS[2] / "model.txt").read_text() == "half_plus_two"


def test_a_folder_that_is_no_checkout_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not a TF Serving work tree or git repository"):
        suite.extract_suite(tmp_path, tmp_path / "out")
    assert suite.main([str(tmp_path / "nowhere")]) == 2


def test_the_tally_names_failures_and_excuses_only_the_allowed_ones(tmp_path):
    report = tmp_path / "r.xml"
    report.write_text(
        '<testsuites><testsuite name="T">'
        '<testcase name="testA" classname="T"/>'
        '<testcase name="test_tf_text" classname="T"><error message="no ops"/></testcase>'
        '<testcase name="testB" classname="T"><failure message="x">\nTraceback\n'
        "AssertionError: 3.0 != 4.0\n</failure></testcase>"
        '<testcase name="testC" classname="T"><skipped message="no GPU"/></testcase>'
        "</testsuite></testsuites>"
    )
    tally = suite.parse_report(report)
    assert tally.passed == ["testA"]
    assert tally.failed == {"test_tf_text": "no ops", "testB": "AssertionError: 3.0 != 4.0"}
    assert tally.skipped == {"testC": "no GPU"}
    assert tally.unexpected == ["testB"]
    text = suite.format_tally(tally, ["a/missing.pb"])
    assert text.splitlines()[0].endswith("1 passed, 2 failed, 1 skipped (of 4)")
    assert "FAIL testB: UNEXPECTED: AssertionError: 3.0 != 4.0" in text
    assert "SKIP testC: no GPU" in text
    assert "FAIL test_tf_text: allowed:" in text
    assert "a/missing.pb" in text


def test_the_suite_runs_against_the_shim(tmp_path, capsys):
    checkout = make_checkout(tmp_path / "checkout")
    code = suite.main([str(checkout), "--workdir", str(tmp_path / "w"), "--timeout", "300"])
    out = capsys.readouterr().out
    assert "2 passed, 2 failed, 1 skipped (of 5)" in out, out
    assert "FAIL test_something_else: UNEXPECTED: AssertionError: a real difference" in out
    assert "SKIP test_gpu" in out
    assert code == 1  # test_something_else is not an allowed failure
    assert not (checkout / suite.SERVER_SHIM).exists()  # the checkout is left untouched

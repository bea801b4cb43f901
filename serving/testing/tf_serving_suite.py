"""Run TF Serving's own model-server tests, unchanged, against this server.

    python -m serving.testing.tf_serving_suite [CHECKOUT] [--workdir DIR] [--timeout S]
        [--test NAME ...]

TF Serving's ``tensorflow_model_server_test.py`` starts ``tensorflow_model_server`` from
``$TEST_SRCDIR/tf_serving/tensorflow_serving/model_servers/`` and reads its test models from
``.../servables/tensorflow/testdata``. This tool lays that tree out in a scratch folder
(never in the checkout, never in this repository), puts a shim there in place of the
binary that execs ``python -m serving.cli`` with the same flags, runs the test file as its
authors run it (absltest, one process), and prints the tally from absltest's XML report.

``CHECKOUT`` is a TF Serving work tree or git repository, bare or not (default:
``$TF_SERVING_CHECKOUT``, else the local mirror when present). From a repository the
files of ``HEAD`` are read with git, so no network is needed; blobs a partial mirror lacks
(large test models) are reported and left out, which fails only the tests that use them.

Exit status: 0 when every test that did not pass is one of ``ALLOWED_FAILURES`` (the
profiler and tf_text tests, which issue 18 exempts), 1 otherwise, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MIRROR = Path("/work/.mirror/tensorflow+serving/repo")
TEST_FILE = "tensorflow_serving/model_servers/tensorflow_model_server_test.py"
SUITE_PATHS = (
    TEST_FILE,
    "tensorflow_serving/model_servers/test_util/tensorflow_model_server_test_base.py",
    "tensorflow_serving/servables/tensorflow/testdata",
)
SERVER_SHIM = "tensorflow_serving/model_servers/tensorflow_model_server"
# The tests this server is not expected to pass, and why (docs/serving.md repeats these).
ALLOWED_FAILURES = {
    "test_profiler_service_with_valid_trace_request": (
        "TensorFlow's profiler gRPC service is not served (--enable_profiler is a no-op)"
    ),
    "test_tf_text": (
        "TF Text's ops are not in this server; the test stops first anyway (TensorFlow >= 2.x's "
        "platform flags module has no `os`)"
    ),
}
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Tally:
    """Outcome of one run, by test name (without the class prefix)."""

    passed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # name -> the last line of its traceback
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def unexpected(self) -> list[str]:
        return sorted(n for n in self.failed if n not in ALLOWED_FAILURES)


def extract_suite(checkout: Path, dest: Path) -> list[str]:
    """Copy the suite's files from ``checkout`` under ``dest``; returns the paths missing
    from a partial repository (their tests then fail, the others still run)."""
    if (checkout / "tensorflow_serving").is_dir():
        for rel in SUITE_PATHS:
            src, out = checkout / rel, dest / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, out, dirs_exist_ok=True)
            else:
                shutil.copy2(src, out)
        return []
    return _extract_from_git(checkout, dest)


def _git(git_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), *args], capture_output=True, check=check, timeout=120
    )


def _extract_from_git(checkout: Path, dest: Path) -> list[str]:
    git_dir = checkout / ".git" if (checkout / ".git").exists() else checkout
    try:
        listing = _git(git_dir, "ls-tree", "-r", "-z", "HEAD", "--", *SUITE_PATHS).stdout
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        raise ValueError(f"{checkout}: not a TF Serving work tree or git repository") from exc
    entries = [e.decode() for e in listing.split(b"\0") if e]
    if not any(e.endswith("\t" + TEST_FILE) for e in entries):
        raise ValueError(f"{checkout}: HEAD has no {TEST_FILE}")
    missing = []
    for entry in entries:
        meta, rel = entry.split("\t", 1)
        _mode, kind, sha = meta.split()
        if kind != "blob":
            continue
        blob = _git(git_dir, "cat-file", "blob", sha, check=False)
        if blob.returncode != 0:
            missing.append(rel)
            continue
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(blob.stdout)
    return missing


def install_shims(tree: Path, python: str = sys.executable) -> None:
    """The server binary the tests start, and a ``tensorflow_serving`` package that joins
    the extracted ``test_util`` to the installed ``tensorflow_serving.apis``."""
    shim = tree / SERVER_SHIM
    shim.write_text(
        "#!/bin/sh\n"
        "# Stands in for tensorflow_model_server: the same flags, this repository's server.\n"
        f'PYTHONPATH="{REPO_ROOT}${{PYTHONPATH:+:$PYTHONPATH}}" '
        f'exec "{python}" -m serving.cli "$@"\n'
    )
    shim.chmod(0o755)
    (tree / "tensorflow_serving" / "__init__.py").write_text(
        "from pkgutil import extend_path\n__path__ = extend_path(__path__, __name__)\n"
    )


def run_suite(workdir: Path, tests: list[str], timeout: float) -> Path:
    """Run the test file in its own process group (the servers it starts included, so a
    timeout leaves none behind); returns absltest's XML report."""
    tree, srcdir, tmp = workdir / "src", workdir / "srcdir", workdir / "tmp"
    (srcdir / "tf_serving").mkdir(parents=True, exist_ok=True)
    link = srcdir / "tf_serving" / "tensorflow_serving"
    if not link.exists():
        link.symlink_to(tree / "tensorflow_serving")
    tmp.mkdir(exist_ok=True)
    report = workdir / "report.xml"
    report.unlink(missing_ok=True)
    env = dict(os.environ, TEST_SRCDIR=str(srcdir), TEST_TMPDIR=str(tmp))
    # The Keras tests build their models with tf.keras as Keras 2 (an Input named "x" is the
    # signature's input "x"); TensorFlow >= 2.16 maps tf.keras to Keras 3 unless told, whose
    # export names the input "inputs", which TF Serving itself would refuse just the same.
    env.setdefault("TF_USE_LEGACY_KERAS", "1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, str(tree / TEST_FILE), f"--xml_output_file={report}", *tests]
    print("running:", " ".join(command), f"(TEST_SRCDIR={srcdir})", flush=True)
    with subprocess.Popen(command, cwd=tree, env=env, start_new_session=True) as proc:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"suite still running after {timeout:.0f} s: stopped", file=sys.stderr)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    return report


def parse_report(report: Path) -> Tally:
    """absltest's JUnit-style XML -> a tally."""
    tally = Tally()
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("name", "?")
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        skipped = case.find("skipped")
        if problem is not None:
            # The traceback's last line carries the exception's type; the message lacks it.
            tally.failed[name] = _last_line(problem.text or problem.get("message") or "")
        elif skipped is not None or case.get("result") == "suppressed":
            tally.skipped[name] = _last_line(
                skipped.get("message", "") if skipped is not None else ""
            )
        else:
            tally.passed.append(name)
    return tally


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def format_tally(tally: Tally, missing: list[str]) -> str:
    total = len(tally.passed) + len(tally.failed) + len(tally.skipped)
    lines = [
        f"TF Serving's model-server tests: {len(tally.passed)} passed, "
        f"{len(tally.failed)} failed, {len(tally.skipped)} skipped (of {total})"
    ]
    for name in sorted(tally.failed):
        why = ALLOWED_FAILURES.get(name)
        note = f"allowed: {why}" if why else f"UNEXPECTED: {tally.failed[name]}"
        lines.append(f"  FAIL {name}: {note}")
    # absltest's report gives no skip reason; unittest-style reports may.
    lines += [
        f"  SKIP {name}{': ' + why if why else ''}" for name, why in sorted(tally.skipped.items())
    ]
    if missing:
        lines.append("  not in the checkout (partial mirror): " + ", ".join(missing))
    return "\n".join(lines)


def _default_checkout() -> Path | None:
    env = os.environ.get("TF_SERVING_CHECKOUT")
    if env:
        return Path(env)
    return DEFAULT_MIRROR if DEFAULT_MIRROR.exists() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", nargs="?", type=Path, help="TF Serving work tree or repo")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a new temp one)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds for the run")
    parser.add_argument(
        "--test", action="append", default=[], help="run only this test (repeatable)"
    )
    args = parser.parse_args(argv)
    checkout = args.checkout or _default_checkout()
    if checkout is None or not checkout.exists():
        print("error: give a TF Serving checkout (or set TF_SERVING_CHECKOUT)", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tf_serving_suite_"))
    try:
        missing = extract_suite(checkout.resolve(), workdir / "src")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    install_shims(workdir / "src")
    tests = [t if "." in t else f"TensorflowModelServerTest.{t}" for t in args.test]
    report = run_suite(workdir, tests, args.timeout)
    if not report.exists():
        print(f"error: the suite wrote no report (see its output above; {workdir})")
        return 1
    tally = parse_report(report)
    print(format_tally(tally, missing))
    return 1 if tally.unexpected else 0


if __name__ == "__main__":
    sys.exit(main())

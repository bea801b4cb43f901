"""The GitHub Actions workflows: actionlint and the vendored workflow/action schemas pass,
the jobs run the repository's real commands, no registry or secret is written into them,
and the helper scripts they call behave (the run verdict, the canary start with a fake
kubectl on PATH)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WORKFLOWS = REPO / ".github" / "workflows"
SCRIPTS = REPO / ".github" / "scripts"
sys.path.insert(0, str(SCRIPTS))
import pipeline_result  # noqa: E402  (a script in .github/scripts, not a package)


def tool(name: str) -> str:
    path = BIN / name
    assert path.is_file(), f"{path} missing: scripts/bootstrap.sh dev installs it"
    return str(path)


def run(
    *cmd: str, cwd: Path = REPO, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60, env=env)


def workflow(name: str) -> dict[str, Any]:
    # PyYAML reads the `on:` key as the boolean True (YAML 1.1).
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True)
    return doc


def run_lines(doc: dict[str, Any], job: str) -> str:
    return "\n".join(step.get("run", "") for step in doc["jobs"][job]["steps"])


def test_actionlint_passes_on_the_workflows():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} == {"pull-request.yml", "main.yml", "deliver.yml", "retrain.yml"}
    result = run(tool("actionlint"), "-oneline", *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path):
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ secrets.X.y.z }} ${{ github.nope }}\n"
        "      - uses: actions/checkout@v5\n        with:\n          fetch_depth: 1\n"
    )
    result = run(tool("actionlint"), "-oneline", str(bad), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "fetch_depth" in result.stdout and "[expression]" in result.stdout


@pytest.mark.parametrize(
    ("schema", "pattern"),
    [
        ("vendor.github-workflows", "workflows/*.yml"),
        ("vendor.github-actions", "actions/*/action.yml"),
    ],
)
def test_workflows_and_actions_match_the_vendored_schemas(schema, pattern):
    files = sorted((REPO / ".github").glob(pattern))
    assert files
    result = run(tool("check-jsonschema"), "--builtin-schema", schema, *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr


def test_pull_request_lints_tests_and_requires_a_blessed_small_run():
    doc = workflow("pull-request.yml")
    assert "pull_request" in doc["on"]
    checks = run_lines(doc, "lint-and-test")
    for command in (
        "ruff check",
        "yamllint --strict",
        "actionlint",
        "hadolint",
        'scripts/test.sh -m "not slow"',
    ):
        assert command in checks, command
    pipeline = run_lines(doc, "pipeline")
    assert "scripts/run.sh --limit 1000 --epochs 3" in pipeline
    assert "pipeline_result.py --require-blessed" in pipeline
    assert doc["jobs"]["pipeline"]["needs"] == "lint-and-test"


def test_main_delivers_through_the_reusable_workflow_with_settings_as_inputs():
    main = workflow("main.yml")
    assert main["on"]["push"]["branches"] == ["main"]
    call = main["jobs"]["deliver"]
    assert call["uses"] == "./.github/workflows/deliver.yml"
    assert all(v.startswith("${{ vars.") for v in call["with"].values())
    assert all(v.startswith("${{ secrets.") for v in call["secrets"].values())
    deliver = workflow("deliver.yml")
    declared = deliver["on"]["workflow_call"]
    assert set(call["with"]) <= set(declared["inputs"])
    assert set(call["secrets"]) == set(declared["secrets"])
    assert "scripts/run.sh" in run_lines(deliver, "pipeline")
    assert "pipeline_result.py" in run_lines(deliver, "pipeline")
    assert deliver["jobs"]["images"]["if"] == "needs.pipeline.outputs.pushed == 'true'"
    builds = {
        s["with"]["file"]
        for s in deliver["jobs"]["images"]["steps"]
        if s.get("uses", "").startswith("docker/build-push-action")
    }
    assert builds == {"deploy/airflow/Dockerfile", "deploy/serving/Dockerfile"}
    assert all((REPO / f).is_file() for f in builds)
    assert "start-canary.sh" in run_lines(deliver, "canary")


def test_retrain_runs_on_a_schedule_the_release_check_in_the_cluster():
    doc = workflow("retrain.yml")
    assert doc["on"]["schedule"][0]["cron"]
    assert "retrain-check.sh" in run_lines(doc, "retrain-check")
    job = yaml.safe_load((REPO / "deploy/k8s-canary/jobs/retrain-check.yaml").read_text())
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["cifar10-release"]
    assert "--if-retrain-requested" in container["args"]


def test_no_registry_or_credential_is_written_into_the_workflows():
    text = "\n".join(p.read_text() for p in (REPO / ".github").rglob("*.yml"))
    for literal in ("ghcr.io/", "docker.io/", "amazonaws.com", "gcr.io", "azurecr.io"):
        lines = [
            ln
            for ln in text.splitlines()
            if literal in ln
            and "${{" not in ln
            and not ln.strip().startswith(("#", "description:"))
        ]
        assert not lines, (literal, lines)
    # Credentials given to actions come from expressions (secrets), never literal values.
    literal_credentials = re.findall(r"^\s*(?:username|password|token):[ \t]*[^$\s].*$", text, re.M)
    assert not literal_credentials
    assert "password: ${{ secrets.registry-password }}" in text


# --- .github/scripts/pipeline_result.py ----------------------------------------------------


def summary(**fields: Any) -> SimpleNamespace:
    base = {
        "components": {"Evaluator": "COMPLETE", "Pusher": "COMPLETE"},
        "accuracy": 0.41,
        "blessed": True,
        "pushed": True,
        "pushed_destination": "/o/serving/cifar10/17",
        "failed_checks": [],
    }
    return SimpleNamespace(**{**base, **fields})


def test_pipeline_result_reports_the_pushed_version():
    result = pipeline_result.verdict(summary())
    assert result["version"] == "17" and result["blessed"] and result["pushed"]
    assert pipeline_result.github_outputs(result) == (
        "blessed=true\npushed=true\nversion=17\naccuracy=0.41\n"
    )
    assert pipeline_result.exit_code(result, require_blessed=True) == 0


def test_pipeline_result_fails_the_pull_request_when_not_blessed():
    result = pipeline_result.verdict(
        summary(blessed=False, pushed=False, failed_checks=["overall: candidate ..."])
    )
    assert result["version"] is None
    assert "pushed=false\nversion=\n" in pipeline_result.github_outputs(result)
    assert pipeline_result.exit_code(result, require_blessed=True) == 1
    assert pipeline_result.exit_code(result, require_blessed=False) == 0  # main: no deploy
    assert (
        pipeline_result.exit_code(
            pipeline_result.verdict(summary(components={})), require_blessed=False
        )
        == 2
    )


# --- .github/scripts/start-canary.sh with a fake kubectl -----------------------------------

FAKE_KUBECTL = """#!/usr/bin/env bash
echo "$*" >> "$KUBECTL_LOG"
case "$*" in
  *"status --json"*) cat "$ROLLOUT_STATE" ;;
  *"set image --local"*) echo "kind: Job" ;;
  *"apply -f -"*) cat > /dev/null ;;
esac
"""


def start_canary(tmp_path: Path, state: dict[str, Any]) -> tuple[int, list[str]]:
    (tmp_path / "bin").mkdir()
    kubectl = tmp_path / "bin" / "kubectl"
    kubectl.write_text(FAKE_KUBECTL)
    kubectl.chmod(0o755)
    (tmp_path / "state.json").write_text(json.dumps(state))
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "KUBECTL_LOG": str(tmp_path / "log"),
        "ROLLOUT_STATE": str(tmp_path / "state.json"),
    }
    result = run(
        "bash",
        str(SCRIPTS / "start-canary.sh"),
        "ml",
        "reg/pipe@sha256:1",
        "reg/serving@sha256:2",
        "42",
        env=env,
    )
    return result.returncode, (tmp_path / "log").read_text().splitlines()


def test_start_canary_starts_a_new_version_on_the_canary_track(tmp_path):
    code, calls = start_canary(tmp_path, {"stable": 41, "canary": None})
    assert code == 0
    assert calls[0] == "--namespace ml apply -k deploy/k8s-canary"
    assert "--namespace ml set image deployment/cifar10-router router=reg/pipe@sha256:1" in calls
    assert any(
        "set image --local -f deploy/k8s-canary/jobs/model-sync.yaml "
        "model-sync=reg/serving@sha256:2" in c
        for c in calls
    )
    (start,) = [c for c in calls if " start " in c]
    assert start.endswith("start 42 --server=http://cifar10-serving-canary:8501")
    assert "cifar10-rollout --output-root=/data/outputs" in start


def test_start_canary_makes_the_first_version_stable(tmp_path):
    code, calls = start_canary(tmp_path, {"stable": None, "canary": None})
    assert code == 0
    assert any(c.endswith("init 42") for c in calls)
    assert not any(" start " in c for c in calls)


def test_start_canary_refuses_while_another_rollout_runs(tmp_path):
    code, calls = start_canary(tmp_path, {"stable": 40, "canary": 41})
    assert code == 1
    assert not any(" start " in c or c.endswith("init 42") for c in calls)

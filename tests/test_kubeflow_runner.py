"""kubeflow_runner.py: the pipeline compiled for KFP v2 / Vertex, checked with the real SDK.

The compile runs here with TFX's ``KubeflowV2DagRunner`` (it needs only
``kfp-pipeline-spec``, which shares TFX 1.16's protobuf 3). The ``kfp`` SDK itself needs
protobuf >= 4, so it lives in a venv of its own (``~/.cache/cifar10-tfx/venv-kfp``, made on
demand by uv): there the compiled spec is parsed strictly into KFP's ``PipelineSpec`` proto and
loaded with ``kfp.components.load_component_from_file``, and the tasks and edges it reports
are compared with the pipeline's graph. No cluster runs anything here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_dags.cifar10_airflow_settings import PIPELINE_IMAGE
from pipeline import configs
from tests.system_deps import skip_or_fail

RUNNER = configs.REPO_ROOT / "kubeflow_runner.py"
# Outside the checkout, so linters that walk the repository never see the SDK's files.
KFP_VENV = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cifar10-tfx" / "venv-kfp"
)
KFP_REQUIREMENT = "kfp>=2.7,<3"
BLESSING_RESOLVER = "latest_blessed_model_resolver-model-blessing-resolver"
MODEL_RESOLVER = "latest_blessed_model_resolver-model-resolver"

# Run in the kfp venv: the spec as KFP's own proto (unknown fields rejected) and as a loaded
# component; prints the SDK version and each task's upstream tasks (explicit dependencies
# and artifact producers) as JSON.
KFP_LOADER = """
import json, sys, tempfile
import kfp
from google.protobuf import json_format
from kfp import components
from kfp.pipeline_spec import pipeline_spec_pb2

job = json.load(open(sys.argv[1]))
json_format.ParseDict(job["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
    json.dump(job["pipelineSpec"], f)
    f.flush()
    component = components.load_component_from_file(f.name)
tasks = component.pipeline_spec.root.dag.tasks
edges = {
    name: sorted(
        set(task.dependent_tasks)
        | {a.task_output_artifact.producer_task for a in task.inputs.artifacts.values()
           if a.task_output_artifact.producer_task}
    )
    for name, task in tasks.items()
}
images = sorted({e["container"]["image"] for e in
                 component.pipeline_spec.deployment_spec["executors"].values()
                 if "container" in e})
print(json.dumps({"kfp": kfp.__version__, "name": component.name, "edges": edges,
                  "images": images}))
"""


def compile_spec(out: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUNNER), "--output", str(out), *flags],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=configs.REPO_ROOT,
    )


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("kfp") / "cifar10.json"
    result = compile_spec(out, "--pipeline-root", "gs://example-bucket/cifar10", "--epochs", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert str(out) in result.stdout
    return out, json.loads(out.read_text())


@pytest.fixture(scope="module")
def pipeline_graph(tmp_path_factory) -> dict[str, set[str]]:
    """``create_pipeline``'s nodes and their upstream ids, as the other runners build it."""
    from pipeline import run_config, runner

    tmp = tmp_path_factory.mktemp("graph")
    config = run_config.parse(["--output-root", str(tmp), "--skip-infra-validation"])
    p = runner.build_pipeline(config)
    return {c.id: {u.id for u in c.upstream_nodes} for c in p.components}


def expected_kfp_edges(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    """The graph as the v2 compiler lays it out: the baseline resolver becomes two tasks
    (latest blessing, then its model) that no longer wait for the Trainer."""
    from pipeline.components.baseline_resolver import RESOLVER_ID

    edges = {
        node: sorted(MODEL_RESOLVER if u == RESOLVER_ID else u for u in ups)
        for node, ups in graph.items()
        if node != RESOLVER_ID
    }
    edges[BLESSING_RESOLVER] = []
    edges[MODEL_RESOLVER] = [BLESSING_RESOLVER]
    return edges


def task_edges(job: dict[str, Any]) -> dict[str, list[str]]:
    edges = {}
    for name, task in job["pipelineSpec"]["root"]["dag"]["tasks"].items():
        producers = {
            a["taskOutputArtifact"]["producerTask"]
            for a in task.get("inputs", {}).get("artifacts", {}).values()
            if "taskOutputArtifact" in a
        }
        edges[name] = sorted(set(task.get("dependentTasks", [])) | producers)
    return edges


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_compiled_tasks_and_edges_are_the_pipelines(compiled, pipeline_graph):
    _, job = compiled
    assert "InfraValidator" not in pipeline_graph
    assert task_edges(job) == expected_kfp_edges(pipeline_graph)
    assert job["runtimeConfig"]["gcsOutputDirectory"] == "gs://example-bucket/cifar10"
    trainer_args = job["pipelineSpec"]["deploymentSpec"]["executors"]["Trainer_executor"]
    assert "GenericExecutor" in " ".join(trainer_args["container"]["args"])
    # The run flags reach the steps: the Trainer's custom config carries --epochs 2.
    trainer = job["pipelineSpec"]["root"]["dag"]["tasks"]["Trainer"]
    custom = trainer["inputs"]["parameters"]["custom_config"]["runtimeValue"]["constantValue"]
    assert json.loads(custom["stringValue"])["epochs"] == 2


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_step_runs_the_pipeline_image_with_its_paths(compiled):
    _, job = compiled
    executors = job["pipelineSpec"]["deploymentSpec"]["executors"]
    containers = [e["container"] for e in executors.values() if "container" in e]
    assert len(containers) >= 8
    assert {c["image"] for c in containers} == {PIPELINE_IMAGE}
    text = json.dumps(job)
    assert str(configs.REPO_ROOT) not in text, "a path of this checkout leaked into the spec"
    assert "/opt/cifar10/schema/schema.pbtxt" in text
    assert "--setup_file=/opt/cifar10/setup.py" in text


def test_bad_flags_exit_2_with_the_reason(tmp_path):
    result = compile_spec(tmp_path / "x.json", "--limit", "0")
    assert result.returncode == 2
    assert "error: out of range: --limit 0" in result.stderr
    assert not (tmp_path / "x.json").exists()


def test_without_the_kubeflow_extra_it_says_which_to_install(tmp_path):
    # kfp-pipeline-spec made unimportable, as in an environment without the extra.
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text("import sys\nsys.modules['kfp'] = None\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{configs.REPO_ROOT}"}
    result = subprocess.run(
        [sys.executable, str(RUNNER), "--output", str(tmp_path / "x.json")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=configs.REPO_ROOT,
        env=env,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "install the project's 'kubeflow' extra" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.json").exists()


# --- the real kfp SDK, in its own venv ----------------------------------------------------


@pytest.fixture(scope="module")
def kfp_python() -> Path:
    """The kfp venv's python with ``kfp`` 2.x, created by uv when missing (a failure to
    create it fails the test under CI=true)."""
    python = KFP_VENV / "bin" / "python"
    check = [str(python), "-c", "import kfp, sys; sys.exit(kfp.__version__[0] != '2')"]
    if python.is_file() and subprocess.run(check, capture_output=True, timeout=60).returncode == 0:
        return python
    uv = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    if not Path(uv).is_file():
        skip_or_fail("uv not found: it creates the kfp SDK's venv")
    steps = [
        [uv, "venv", "--allow-existing", "--python", sys.executable, str(KFP_VENV)],
        [uv, "pip", "install", "--python", str(python), KFP_REQUIREMENT],
    ]
    for step in steps:
        try:
            made = subprocess.run(step, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            skip_or_fail(f"creating the kfp SDK venv timed out: {' '.join(step)}")
        if made.returncode != 0:
            skip_or_fail(f"could not create the kfp SDK venv: {made.stderr[-1500:]}")
    return python


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_kfp_sdk_loads_the_spec_with_the_same_graph(compiled, pipeline_graph, kfp_python):
    path, _ = compiled
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(
        [str(kfp_python), "-c", KFP_LOADER, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["kfp"].startswith("2.")
    assert loaded["name"] == configs.PIPELINE_NAME
    assert loaded["edges"] == expected_kfp_edges(pipeline_graph)
    assert loaded["images"] == [PIPELINE_IMAGE]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kfp_loader_rejects_a_spec_with_an_unknown_field(tmp_path, kfp_python):
    """The SDK side is strict: a misspelled field fails, so a pass above means something."""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"pipelineSpec": {"pipelineInfo": {"name": "x"}, "rooot": {}}}))
    result = subprocess.run(
        [str(kfp_python), "-c", KFP_LOADER, str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "rooot" in result.stderr

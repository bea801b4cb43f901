"""The on-disk layout TF Serving reads and the REST URLs it answers, in one place.

Disk: ``<base_path>/<version>/saved_model.pb``. Only complete, numbered version directories
count: the Pusher (and anyone copying a model in) writes to a temporary or dot-named folder
and renames it into place, so a folder that is not all digits, or that has no
``saved_model.pb`` yet, is skipped until it is complete.

URLs: TF Serving's two REST patterns (``http_rest_api_util``), case-insensitive as there:
``POST /v1/models/<name>[/versions/<n>|/labels/<l>]:<classify|regress|predict>`` and
``GET /v1/models[/<name>][/versions/<n>|/labels/<l>][/metadata]``. The name and label are
percent-decoded. Model names never become paths: requests only look names up in the set
of configured models, so ``..%2F..`` in a URL is just an unknown model.

Exported for reuse (the rollout router, clients, the benchmark): :func:`list_versions`,
:func:`parse_model_url` and its inverse :func:`model_url`, the one builder of these URLs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

SAVED_MODEL_FILE = "saved_model.pb"
TFLITE_FILE = "model.tflite"  # served instead with --prefer_tflite_model=true
BATCHING_PARAMS_FILE = "batching_params.pbtxt"  # --enable_per_model_batching_parameters
WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_VERSION_DIR = re.compile(r"^[0-9]{1,18}$")

PREDICTION_URL = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
    r":(classify|regress|predict)",
    re.IGNORECASE,
)
STATUS_URL = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ModelUrl:
    """A parsed ``/v1/models/...`` path: ``verb`` is predict/classify/regress for POSTs,
    ``metadata`` or ``status`` for GETs (the matched text, so case is preserved)."""

    name: str
    version: str | None
    label: str | None
    verb: str


def parse_model_url(method: str, path: str) -> ModelUrl | None:
    """Match ``path`` the way TF Serving does for ``method`` (None: malformed request)."""
    if method == "POST":
        m = PREDICTION_URL.fullmatch(path)
        if not m:
            return None
        name, version, label, verb = m.groups()
    elif method == "GET":
        m = STATUS_URL.fullmatch(path)
        if not m:
            return None
        name, version, label, sub = m.groups()
        verb = "metadata" if sub == "metadata" else "status"
    else:
        return None
    return ModelUrl(unquote(name or ""), version, None if label is None else unquote(label), verb)


_POST_VERBS = ("predict", "classify", "regress")


def model_url(
    name: str,
    *,
    version: int | None = None,
    label: str | None = None,
    verb: str | None = None,
) -> str:
    """The path of TF Serving's ``/v1/models/<name>[/versions/<v>|/labels/<l>][:verb]``.

    ``verb`` is ``predict``/``classify``/``regress`` (POST), ``metadata``, or ``None`` /
    ``status`` for the status GET. The name and label are percent-encoded (``/`` and ``:``
    too), so :func:`parse_model_url` gives them back unchanged. A version and a label
    together are an error, as TF Serving refuses them in one ModelSpec.
    """
    if not name:
        raise ValueError("model_url: the model name is empty")
    if version is not None and label is not None:
        raise ValueError(f"model_url: give a version ({version}) or a label ({label!r}), not both")
    path = "/v1/models/" + quote(name, safe="")
    if version is not None:
        if isinstance(version, bool) or int(version) != version or version < 0:
            raise ValueError(f"model_url: version must be a non-negative integer, got {version!r}")
        path += f"/versions/{int(version)}"
    elif label is not None:
        if not label:
            raise ValueError("model_url: the label is empty")
        path += "/labels/" + quote(label, safe="")
    if verb in _POST_VERBS:
        return f"{path}:{verb}"
    if verb == "metadata":
        return f"{path}/metadata"
    if verb not in (None, "status"):
        raise ValueError(f"model_url: unknown verb {verb!r}")
    return path


def check_model_name(name: str) -> str:
    """Return ``name`` if it is a safe model name (letters, digits, ``_.-``; no ``..``)."""
    if not isinstance(name, str) or not _MODEL_NAME.match(name) or ".." in name:
        raise ValueError(f"invalid model name {name!r}: use letters, digits, '_', '-', '.'")
    return name


def is_version_dir_name(name: str) -> bool:
    """TF Serving's rule: a version folder's name is a non-negative integer."""
    return bool(_VERSION_DIR.match(name))


def model_file(version_dir: Path, prefer_tflite: bool = False) -> Path | None:
    """The file that makes a version folder complete: ``model.tflite`` when TFLite is
    preferred and present, else ``saved_model.pb``; None when neither is there yet."""
    if prefer_tflite and (version_dir / TFLITE_FILE).is_file():
        return version_dir / TFLITE_FILE
    if (version_dir / SAVED_MODEL_FILE).is_file():
        return version_dir / SAVED_MODEL_FILE
    return None


def list_versions(base_path: Path | str, prefer_tflite: bool = False) -> dict[int, Path]:
    """Complete version dirs under ``base_path`` (digits, holding saved_model.pb, or with
    ``prefer_tflite`` model.tflite)."""
    base = Path(base_path)
    found: dict[int, Path] = {}
    try:
        entries = list(base.iterdir())
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return found
    for entry in entries:
        if not is_version_dir_name(entry.name):
            continue  # temp/staging dirs (".tmp-3", "3.partial", ...) and stray files
        if model_file(entry, prefer_tflite) is not None:
            found[int(entry.name)] = entry
    return found


def missing_versions_message(model: str, base_path: Path | str) -> str:
    """Why a model has nothing to serve: its base path is missing, or holds no version."""
    base = Path(base_path)
    if not base.exists():
        return (
            f"{model}: base path {base} does not exist; nothing to serve until it holds a "
            f"numbered version folder (e.g. {base / '1'})"
        )
    return (
        f"No versions of servable {model} found under base path {base}. Did you forget to "
        "name your leaf directory as a number (eg. '/1/')?"
    )

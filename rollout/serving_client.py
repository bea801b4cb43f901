"""Small REST helpers against a TF Serving compatible server (ours or the real one), and
the one place rollout spells a model URL (the router, the load generator and these helpers
use :func:`model_path`; serving.model_paths parses it, tested to agree)."""

from __future__ import annotations

import time
from typing import Any

import requests

from pipeline import configs
from rollout.client_tls import ClientTls, requests_kwargs
from serving.model_paths import model_url


def model_path(
    model: str = configs.MODEL_NAME,
    verb: str | None = None,
    *,
    version: int | None = None,
    label: str | None = None,
) -> str:
    """``/v1/models/<model>[/versions/<v>|/labels/<l>][:<verb>]``, names percent-encoded
    (serving.model_paths.model_url with the project's model as default)."""
    return model_url(model, version=version, label=label, verb=verb)


def version_state(
    rest_url: str,
    version: int,
    model: str = configs.MODEL_NAME,
    timeout: float = 5.0,
    tls: ClientTls | None = None,
) -> str | None:
    """The server's state for one version (e.g. 'AVAILABLE', 'LOADING'); None if unknown.
    ``tls``: CA and client certificate for an ``https://`` URL."""
    try:
        response = requests.get(
            rest_url.rstrip("/") + model_path(model, version=version),
            timeout=timeout,
            **requests_kwargs(tls),
        )
    except requests.RequestException:
        return None
    if response.status_code != 200:
        return None
    for status in response.json().get("model_version_status", []):
        if str(status.get("version")) == str(version):
            return status.get("state")
    return None


def wait_until_available(
    rest_url: str,
    version: int,
    timeout: float = 120.0,
    model: str = configs.MODEL_NAME,
    poll: float = 0.5,
    tls: ClientTls | None = None,
) -> bool:
    """Poll until ``version`` is AVAILABLE (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if version_state(rest_url, version, model, tls=tls) == "AVAILABLE":
            return True
        time.sleep(poll)
    return False


def warm_up(
    rest_url: str,
    version: int,
    requests_count: int = 5,
    model: str = configs.MODEL_NAME,
    tls: ClientTls | None = None,
) -> int:
    """Send a few predict calls straight to ``version`` so its first real requests do not
    pay for graph tracing (TF Serving does the same with SavedModel warmup records);
    returns how many succeeded."""
    import base64
    import io

    from PIL import Image

    from models import features

    # An encoded image: the bytes signature takes any size (resized in the graph), so the
    # warm-up needs no knowledge of the model's input shape or channels.
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, format="PNG")
    body: dict[str, Any] = {
        "signature_name": features.SIGNATURE_IMAGE_BYTES,
        "instances": [
            {features.INPUT_IMAGE_BYTES: {"b64": base64.b64encode(png.getvalue()).decode()}}
        ],
    }
    ok = 0
    for _ in range(requests_count):
        try:
            response = requests.post(
                rest_url.rstrip("/") + model_path(model, "predict", version=version),
                json=body,
                timeout=30,
                **requests_kwargs(tls),
            )
            ok += response.status_code == 200
        except requests.RequestException:
            pass
    return ok

"""The Open Inference Protocol over REST, on the server's TF Serving REST port."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
import requests

from serving.oip import datatypes
from tests.serving.oip.conftest import MODEL
from tests.serving.oip.test_datatypes import SAMPLES

TIMEOUT = 30


def _infer(rest_url, doc, path=f"/v2/models/{MODEL}/infer", binary=b"", **headers):
    body = json.dumps(doc).encode()
    if binary:
        headers["Inference-Header-Content-Length"] = str(len(body))
    return requests.post(rest_url + path, data=body + binary, headers=headers, timeout=TIMEOUT)


def _echo_doc(name, x, binary=False):
    entry = {"name": "x", "datatype": name, "shape": list(x.shape)}
    raw = b""
    if binary:
        raw = datatypes.to_raw(x)
        entry["parameters"] = {"binary_data_size": len(raw)}
    else:
        entry["data"] = (
            datatypes.to_values(x).tolist() if name != "BYTES" else datatypes.to_values(x)
        )
    doc = {
        "parameters": {"signature_name": f"echo_{name}"},
        "inputs": [entry],
        "outputs": [{"name": "y", "parameters": {"binary_data": binary}}],
    }
    return doc, raw


def _output(response, index=0):
    """(header doc, array of output ``index``) of an answer in either form."""
    length = int(response.headers.get("Inference-Header-Content-Length", len(response.content)))
    doc = json.loads(response.content[:length])
    out = doc["outputs"][index]
    dtype = datatypes.BY_NAME[out["datatype"]]
    if "data" in out:
        return doc, datatypes.from_values(out["data"], out["name"], dtype, out["shape"])
    offset = length + sum(
        o["parameters"]["binary_data_size"] for o in doc["outputs"][:index] if "parameters" in o
    )
    raw = response.content[offset : offset + out["parameters"]["binary_data_size"]]
    return doc, datatypes.from_raw(raw, out["name"], dtype, out["shape"])


def test_health_and_server_metadata(rest_url):
    assert requests.get(f"{rest_url}/v2/health/live", timeout=TIMEOUT).status_code == 200
    assert requests.get(f"{rest_url}/v2/health/ready", timeout=TIMEOUT).status_code == 200
    meta = requests.get(f"{rest_url}/v2", timeout=TIMEOUT).json()
    assert meta["name"] and meta["version"]
    assert "binary_tensor_data" in meta["extensions"]


def test_model_metadata_is_serving_default(rest_url):
    meta = requests.get(f"{rest_url}/v2/models/{MODEL}", timeout=TIMEOUT).json()
    assert (
        meta["name"] == MODEL and meta["versions"] == ["2", "1"] or meta["versions"] == ["1", "2"]
    )
    assert meta["platform"] == "tensorflow_savedmodel"
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}]
    assert {o["name"]: o["datatype"] for o in meta["outputs"]} == {
        "doubled": "FP32",
        "label": "BYTES",
    }
    one = requests.get(f"{rest_url}/v2/models/{MODEL}/versions/1", timeout=TIMEOUT).json()
    assert one["versions"] == ["1"]


def test_model_readiness_per_version_and_label(rest_url):
    base = f"{rest_url}/v2/models/{MODEL}"
    for path in ("/ready", "/versions/1/ready", "/versions/2/ready", "/versions/stable/ready"):
        assert requests.get(base + path, timeout=TIMEOUT).status_code == 200, path
    assert requests.get(f"{base}/versions/9/ready", timeout=TIMEOUT).status_code == 400
    missing = requests.get(f"{rest_url}/v2/models/nope/ready", timeout=TIMEOUT)
    assert missing.status_code == 404 and "nope" in missing.json()["error"]


def test_json_infer_on_serving_default(rest_url):
    doc = {
        "id": "r1",
        "inputs": [
            {"name": "x", "datatype": "FP32", "shape": [2, 3], "data": [[1, 2, 3], [-1, -2, -3]]}
        ],
    }
    response = _infer(rest_url, doc)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["id"] == "r1" and answer["model_name"] == MODEL
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert outputs["doubled"]["data"] == [2, 4, 6, -2, -4, -6]
    assert outputs["doubled"]["shape"] == [2, 3]
    assert outputs["label"] == {
        "name": "label",
        "datatype": "BYTES",
        "shape": [2],
        "data": ["positive", "not positive"],
    }


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("name", [*sorted(SAMPLES), "BYTES"])
def test_every_datatype_round_trips(rest_url, name, binary):
    if name == "BYTES":
        x = np.array([["a", "é"], ["", "zz"]], dtype=object)
        x = np.vectorize(lambda s: s.encode(), otypes=[object])(x)
    else:
        x = datatypes.from_values(SAMPLES[name] * 2, "x", datatypes.BY_NAME[name], (2, 2))
    doc, raw = _echo_doc(name, x, binary)
    response = _infer(rest_url, doc, binary=raw)
    assert response.status_code == 200, response.text
    header, y = _output(response)
    assert header["outputs"][0]["datatype"] == name
    assert ("parameters" in header["outputs"][0]) == binary
    np.testing.assert_array_equal(y, x)


def test_versions_and_labels_pick_the_version(rest_url):
    doc = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 1, 1]}]}
    for version, expected in (("1", "1"), ("2", "2"), ("stable", "1"), ("canary", "2")):
        response = _infer(rest_url, doc, path=f"/v2/models/{MODEL}/versions/{version}/infer")
        assert response.json()["model_version"] == expected


def test_requested_outputs_only(rest_url):
    doc = {
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 1, 1]}],
        "outputs": [{"name": "label"}],
    }
    answer = _infer(rest_url, doc).json()
    assert [o["name"] for o in answer["outputs"]] == ["label"]


X = {"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}


@pytest.mark.parametrize(
    ("doc", "path", "status", "message"),
    [
        ({"inputs": [X]}, "/v2/models/nope/infer", 404, "nope"),
        ({"inputs": [X]}, f"/v2/models/{MODEL}/versions/9/infer", 404, "9"),
        (
            {"inputs": [X]},
            f"/v2/models/{MODEL}/versions/99999999999999999999/infer",
            404,
            "no version",
        ),
        ({"inputs": [X], "parameters": {"signature_name": "nah"}}, None, 400, "echo_BOOL"),
        ({"inputs": [{**X, "name": "z"}]}, None, 400, "unknown input 'z'"),
        (
            {"inputs": [{**X, "datatype": "FP64"}]},
            None,
            400,
            "has datatype FP64, signature 'serving_default' expects FP32",
        ),
        (
            {"inputs": [{**X, "shape": [3]}]},
            None,
            400,
            r"has shape [3], signature 'serving_default' expects [-1, 3]",
        ),
        ({"inputs": [{**X, "shape": [2, 3]}]}, None, 400, "needs 6 elements, the data holds 3"),
        ({"inputs": [{**X, "shape": [2**31, 2**31, 3]}]}, None, 400, "would decode to more than"),
        ({"inputs": [{**X, "datatype": "FP8"}]}, None, 400, "unsupported datatype"),
        ({"inputs": [X, X]}, None, 400, "given twice"),
        ({"inputs": [X], "outputs": [{"name": "nope"}]}, None, 400, "nope"),
    ],
)
def test_client_errors(rest_url, doc, path, status, message):
    response = _infer(rest_url, doc, path=path or f"/v2/models/{MODEL}/infer")
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_garbage_bodies_are_client_errors(rest_url):
    url = f"{rest_url}/v2/models/{MODEL}/infer"
    cases = [
        (b"\x89PNG\r\n\x1a\n\x00\x00", {}),
        (b"[1, 2]", {}),
        (b"", {}),
        (b'{"inputs": []}' + b"\xff" * 10, {"Inference-Header-Content-Length": "14"}),
        (b'{"inputs": []}', {"Inference-Header-Content-Length": "1000"}),
        (b'{"inputs": []}', {"Inference-Header-Content-Length": "x1"}),
        (b"\xff\xfe{}", {"Inference-Header-Content-Length": "4"}),
    ]
    for body, headers in cases:
        response = requests.post(url, data=body, headers=headers, timeout=TIMEOUT)
        assert response.status_code == 400, (body, headers, response.text)
        assert response.json()["error"]


def test_a_body_over_the_limit_is_413_and_the_server_stays_up(rest_url):
    big = b"{" + b" " * (5 * 1024 * 1024) + b"}"
    response = requests.post(f"{rest_url}/v2/models/{MODEL}/infer", data=big, timeout=TIMEOUT)
    assert response.status_code == 413
    assert requests.get(f"{rest_url}/v2/health/live", timeout=TIMEOUT).status_code == 200


def test_a_body_shorter_than_its_content_length_does_not_hang_the_server(oip_server):
    host, port = oip_server.rest_url.split("//")[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        head = f"POST /v2/models/{MODEL}/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
        sock.sendall(head.encode() + b"\r\n{")
    live = requests.get(f"{oip_server.rest_url}/v2/health/live", timeout=TIMEOUT)
    assert live.status_code == 200


def test_unknown_paths_and_methods(rest_url):
    assert requests.get(f"{rest_url}/v2/nothing", timeout=TIMEOUT).status_code == 404
    wrong = requests.get(f"{rest_url}/v2/models/{MODEL}/infer", timeout=TIMEOUT)
    assert wrong.status_code == 405 and "takes POST" in wrong.json()["error"]
    assert requests.post(f"{rest_url}/v2/health/live", timeout=TIMEOUT).status_code == 405


def test_metrics_count_oip_requests(rest_url, oip_server):
    _infer(rest_url, {"inputs": [X]})
    text = requests.get(f"{rest_url}/monitoring/prometheus/metrics", timeout=TIMEOUT).text
    lines = [line for line in text.splitlines() if line.startswith("model_server_requests_total")]
    counted = [
        line
        for line in lines
        if all(
            f'{k}="{v}"' in line
            for k, v in (
                ("api", "infer"),
                ("protocol", "rest-oip"),
                ("code", "OK"),
                ("model", MODEL),
            )
        )
    ]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 1, lines


def test_a_bug_while_encoding_is_a_json_500_not_a_dropped_connection(rest_url, monkeypatch):
    from serving.oip import rest_codec

    def broken(response, request):
        raise TypeError("simulated encoder bug")

    monkeypatch.setattr(rest_codec, "encode_infer_response", broken)
    response = _infer(rest_url, {"inputs": [X]})
    assert response.status_code == 500
    assert "simulated encoder bug" in response.json()["error"]

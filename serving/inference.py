"""Predict, Classify, Regress and MultiInference on one leased servable, protocol-neutral.

Each front end decodes its wire format, calls one of these with a servable it holds, and
encodes what comes back; the checks and messages (TF Serving's ``predict_util``,
``classifier``, ``regressor``, ``multi_inference``) are therefore the same for gRPC and
REST. Results of Classify/Regress are the API protos themselves, so REST only re-renders
them as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from serving import signatures as sigs
from serving.errors import (
    FailedPrecondition,
    InvalidArgument,
    ServingError,
    Unimplemented,
    invalid,
)
from serving.examples import serialized_examples
from serving.servable import Servable
from serving.signatures import Signature


@dataclass(frozen=True)
class RunOptions:
    """Per-request settings: TF's run timeout (0: none) and the method-name check flag."""

    timeout_ms: int = 0
    method_check: bool = False


@dataclass(frozen=True)
class SignatureLookup:
    """How one API reports an unknown signature name: TF Serving's error type and message."""

    error: type[ServingError]
    message: str  # formatted with {key}


GRPC_PREDICT = SignatureLookup(FailedPrecondition, 'Serving signature key "{key}" not found.')
REST_PREDICT = SignatureLookup(
    InvalidArgument, 'Serving signature name: "{key}" not found in signature def'
)
INFERENCE = SignatureLookup(InvalidArgument, "No signature was found with the name: {key}")
MULTI_INFERENCE = SignatureLookup(
    InvalidArgument, "Requested signature not found in model graph: {key}"
)


def find_signature(servable: Servable, name: str, lookup: SignatureLookup) -> Signature:
    """The signature ``name`` ("": ``serving_default``); an unknown name is the API's error,
    with the names that do exist appended so the client can pick one."""
    key = name or sigs.DEFAULT_SIGNATURE
    sig = servable.signatures.get(key)
    if sig is None:
        existing = ", ".join(n for n in sorted(servable.signatures) if not n.startswith("__"))
        raise lookup.error(f"{lookup.message.format(key=key)} (signatures: {existing or 'none'})")
    return sig


def predict(
    servable: Servable,
    sig: Signature,
    inputs: Mapping[str, np.ndarray],
    output_filter: Sequence[str] = (),
    options: RunOptions = RunOptions(),
) -> dict[str, np.ndarray]:
    """Output alias -> array, for the aliases asked for (all when no filter)."""
    sigs.check_predict_method(sig, options.method_check)
    feeds = sigs.predict_feeds(sig, inputs)
    aliases = sigs.predict_fetches(sig, output_filter)
    values = servable.run(feeds, [sig.outputs[a].name for a in aliases], options.timeout_ms)
    return dict(zip(aliases, values, strict=True))


def _run_examples(
    servable: Servable,
    input_names: Sequence[str],
    fetches: Sequence[str],
    request_input,
    options: RunOptions,
) -> tuple[int, dict[str, np.ndarray]]:
    """One run with the serialized examples fed to every named input tensor."""
    examples = serialized_examples(request_input)
    feeds = {name: examples for name in input_names}
    values = servable.run(feeds, list(fetches), options.timeout_ms)
    return len(examples), dict(zip(fetches, values, strict=True))


def _classification(sig: Signature, n: int, by_name: Mapping[str, np.ndarray], result) -> None:
    """Fill a ClassificationResult from the fetched tensors (TF Serving's checks)."""
    classes_name = (
        sig.outputs[sigs.CLASSIFY_CLASSES].name if (sigs.CLASSIFY_CLASSES in sig.outputs) else None
    )
    scores_name = (
        sig.outputs[sigs.CLASSIFY_SCORES].name if (sigs.CLASSIFY_SCORES in sig.outputs) else None
    )
    classes = by_name.get(classes_name) if classes_name else None
    scores = by_name.get(scores_name) if scores_name else None
    for what, arr, dtype in (("classes", classes, "DT_STRING"), ("scores", scores, "DT_FLOAT")):
        if arr is None:
            continue
        if arr.ndim != 2:
            raise invalid(
                "Expected Tensor shape: [batch_size num_classes] but got "
                f"[{','.join(map(str, arr.shape))}]"
            )
        ok = arr.dtype == object if what == "classes" else arr.dtype == np.float32
        if not ok:
            raise invalid(f"Expected {what} Tensor of {dtype}. Got: {arr.dtype.name}")
        if arr.shape[0] != n:
            raise invalid(f"Expected {what} output batch size of {n}. Got: {arr.shape[0]}")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise invalid(
            "Tensors class and score should match in dim_size(1). Got "
            f"{classes.shape[1]} vs. {scores.shape[1]}"
        )
    first = classes if classes is not None else scores
    if first is None:  # classify_tensors fetches at least one of them
        raise invalid(
            "Expected classification signature outputs to contain at least one "
            f'of "{sigs.CLASSIFY_CLASSES}" or "{sigs.CLASSIFY_SCORES}". '
            f"Signature was: {sig.name}"
        )
    width = first.shape[1]
    class_rows = classes.tolist() if classes is not None else None
    score_rows = scores.tolist() if scores is not None else None
    for i in range(n):
        row = result.classifications.add()
        for j in range(width):
            cls = row.classes.add()
            if class_rows is not None:
                label = class_rows[i][j]
                cls.label = (
                    label.decode("utf-8", "replace") if isinstance(label, bytes) else str(label)
                )
            if score_rows is not None:
                cls.score = score_rows[i][j]


def _regression(sig: Signature, n: int, by_name: Mapping[str, np.ndarray], result) -> None:
    out = by_name[sig.outputs[sigs.REGRESS_OUTPUTS].name]
    if not (out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1)):
        raise invalid(
            "Expected output Tensor shape to be either [batch_size] or "
            f"[batch_size, 1] but got [{','.join(map(str, out.shape))}]"
        )
    if out.shape[0] != n:
        raise invalid(f"Input batch size did not match output batch size: {n} vs. {out.shape[0]}")
    if out.dtype != np.float32:
        raise invalid(f"Expected output Tensor of DT_FLOAT.  Got: {out.dtype.name}")
    for value in out.reshape(-1).tolist():
        result.regressions.add().value = value


def classify(
    servable: Servable, signature_name: str, request_input, options: RunOptions = RunOptions()
):
    """(signature, ClassificationResult) for an ``Input`` of tf.Examples."""
    from tensorflow_serving.apis import classification_pb2

    sig = find_signature(servable, signature_name, INFERENCE)
    input_name, outs = sigs.classify_tensors(sig, options.method_check)
    n, by_name = _run_examples(servable, [input_name], list(outs.values()), request_input, options)
    result = classification_pb2.ClassificationResult()
    _classification(sig, n, by_name, result)
    return sig, result


def regress(
    servable: Servable, signature_name: str, request_input, options: RunOptions = RunOptions()
):
    """(signature, RegressionResult) for an ``Input`` of tf.Examples."""
    from tensorflow_serving.apis import regression_pb2

    sig = find_signature(servable, signature_name, INFERENCE)
    input_name, outs = sigs.regress_tensors(sig, options.method_check)
    n, by_name = _run_examples(servable, [input_name], list(outs.values()), request_input, options)
    result = regression_pb2.RegressionResult()
    _regression(sig, n, by_name, result)
    return sig, result


def multi_inference(servable: Servable, request, options: RunOptions = RunOptions()):
    """A MultiInferenceResponse: every task's signature run on the same examples, at once."""
    from tensorflow_serving.apis import inference_pb2

    if not request.tasks:
        raise invalid("MultiInferenceRequest must contain at least one task.")
    model = ""
    seen: set[str] = set()
    inputs: set[str] = set()
    fetches: list[str] = []
    plan: list[tuple[Any, Signature]] = []
    for task in request.tasks:
        if not task.model_spec.name:
            raise invalid("Found ModelSpec with an empty model name.")
        if model and task.model_spec.name != model:
            raise invalid(
                "All ModelSpecs in a MultiInferenceRequest must access the same model name."
            )
        model = task.model_spec.name
        key = task.model_spec.signature_name or sigs.DEFAULT_SIGNATURE
        if key in seen:
            raise invalid(f"Duplicate evaluation of signature: {key}")
        seen.add(key)
        sig = find_signature(servable, key, MULTI_INFERENCE)
        if task.method_name == sigs.CLASSIFY_METHOD:
            input_name, outs = sigs.classify_tensors(sig, options.method_check)
        elif task.method_name == sigs.REGRESS_METHOD:
            input_name, outs = sigs.regress_tensors(sig, options.method_check)
        else:
            raise Unimplemented(f"Unsupported signature method_name: {task.method_name}")
        inputs.add(input_name)
        fetches.extend(n for n in outs.values() if n not in fetches)
        plan.append((task, sig))
    # TF1 signatures usually share one input placeholder; a TF2 SavedModel gives every
    # signature its own. TF Serving then runs each signature on the same serialized
    # examples (RunMultipleSignatures); feeding them to every input in one run does that.
    n, by_name = _run_examples(servable, sorted(inputs), fetches, request.input, options)
    response = inference_pb2.MultiInferenceResponse()
    for task, sig in plan:
        result = response.results.add()
        if task.method_name == sigs.CLASSIFY_METHOD:
            _classification(sig, n, by_name, result.classification_result)
        else:
            _regression(sig, n, by_name, result.regression_result)
        result.model_spec.name = task.model_spec.name
        result.model_spec.signature_name = sig.name
        result.model_spec.version.value = servable.version
    return response

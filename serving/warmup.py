"""TF Serving's model warmup: replay ``assets.extra/tf_serving_warmup_requests``.

The file is a TFRecord of ``PredictionLog`` protos (predict, classify, regress or
multi_inference logs). Each request is run ``iterations`` times on the new version before
it turns AVAILABLE, so the first real request does not pay for lazy initialisation. As in
TF Serving, more than 1000 records, an unreadable record or a failing request fails the
load, and other log types are refused.
"""

from __future__ import annotations

from serving import inference
from serving.errors import invalid
from serving.model_paths import WARMUP_FILE
from serving.servable import Servable

MAX_RECORDS = 1000


def replay(servable: Servable, iterations: int = 1) -> int:
    """Run the version's warmup requests; returns how many records were replayed."""
    path = servable.path / WARMUP_FILE
    if not path.is_file():
        return 0
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    from serving import tensor_proto

    count = 0
    for record in tf.compat.v1.io.tf_record_iterator(str(path)):
        count += 1
        if count > MAX_RECORDS:
            raise invalid(f"Number of warmup records exceeds the maximum ({MAX_RECORDS}) at {path}")
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record)
        kind = log.WhichOneof("log_type")
        for _ in range(max(1, iterations)):
            if kind == "predict_log":
                req = log.predict_log.request
                sig = inference.find_signature(
                    servable, req.model_spec.signature_name, inference.GRPC_PREDICT
                )
                inference.predict(
                    servable, sig, tensor_proto.to_arrays(req.inputs), list(req.output_filter)
                )
            elif kind == "classify_log":
                req = log.classify_log.request
                inference.classify(servable, req.model_spec.signature_name, req.input)
            elif kind == "regress_log":
                req = log.regress_log.request
                inference.regress(servable, req.model_spec.signature_name, req.input)
            elif kind == "multi_inference_log":
                inference.multi_inference(servable, log.multi_inference_log.request)
            else:
                raise invalid(f"Unsupported log_type for warmup: {kind}")
    return count

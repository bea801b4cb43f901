"""A TF Serving compatible model server, for any SavedModel (see docs/serving.md).

It speaks TF Serving 2.16's APIs over TF Serving's model directory so that clients, the
canary router and the tests work unchanged against it or against ``tensorflow_model_server``:

* gRPC ``tensorflow.serving.PredictionService`` (Predict, Classify, Regress, MultiInference,
  GetModelMetadata) and ``ModelService`` (GetModelStatus, HandleReloadConfigRequest), with
  the official ``tensorflow_serving.apis`` protos, on TCP and/or a Unix socket;
* REST ``/v1/models/<name>[/versions/<v>|/labels/<l>][/metadata|:predict|:classify|:regress]``,
  plus Prometheus metrics (with a monitoring config) and ``/healthz``;
* the Open Inference Protocol (:mod:`serving.oip`) on the same ports, ``grpc.health.v1``
  (:mod:`serving.health`), TLS and mutual TLS on gRPC (:mod:`serving.tls`), TFLite models
  (:mod:`serving.tflite`).

Command line (:mod:`serving.cli`): every ``tensorflow_model_server`` flag (:mod:`serving.flags`)::

    python -m serving --model_name=m --model_base_path=/abs/path --port=8500 \\
        --rest_api_port=8501 [--model_config_file=F ...]

In-process API (tests, benchmark, rollout)::

    from serving.server import ModelServer
    server = ModelServer(model_name="m", model_base_path=base,   # or model_config_file=...
                         grpc_port=0, rest_port=0,   # 0: pick a free port; None: disabled
                         file_system_poll_seconds=0.5, model_config_poll_seconds=0.5,
                         allow_version_labels_for_unavailable_models=False,
                         enable_batching=False, request_log=False,
                         startup_timeout=None,       # start() waits for every model
                         ssl=None,                   # serving.tls.SslSettings: gRPC over TLS
                         grpc_health=False)          # serve grpc.health.v1
    server.start()         # raises serving.server.StartupError on failure
    server.grpc_target, server.rest_url
    server.manager.available_versions(), server.manager.labels("m"), server.manager.reconcile()
    server.stop()

Requests flow through one data plane (:mod:`serving.data_plane`) whatever their protocol;
errors are the typed ones of :mod:`serving.errors`. Clients build URLs with
:func:`serving.model_paths.model_url` and TLS channel credentials with :mod:`serving.tls`.

Nothing here imports the pipeline: defaults live in :mod:`serving.defaults`, project
specifics (model name, base path, signature names) come from the caller.
"""

"""A TF Serving compatible model server for the pipeline's pushed models.

In production the real ``tensorflow/serving`` container serves the Pusher's directory (see
``deploy/serving/``). This package speaks the same APIs over the same directory so that
clients, the canary router and the tests work unchanged against either:

* gRPC ``tensorflow.serving.PredictionService`` (Predict, Classify, GetModelMetadata) and
  ``ModelService`` (GetModelStatus), with the official ``tensorflow_serving.apis`` protos;
* REST ``/v1/models/<name>[/versions/<v>|/labels/<l>][/metadata|:predict]`` on another port,
  plus Prometheus metrics (``configs.PROMETHEUS_PATH``) and ``/healthz``.

Command line (flag names of ``tensorflow_model_server``)::

    cifar10-serve --model_name cifar10 --model_base_path outputs/serving/cifar10 \\
        --port 8500 --rest_api_port 8501 [--model_config_file F ...]
    python -m serving ...            # the same

In-process API (tests, benchmark, rollout router/demo)::

    from serving.server import ModelServer     # or serving.model_server
    server = ModelServer(model_base_path=base / "cifar10",   # or model_config_file=...
                         grpc_port=0, rest_port=0,           # 0: pick free ports
                         file_system_poll_seconds=0.5, model_config_poll_seconds=0.5,
                         allow_version_labels_for_unavailable_models=False,
                         enable_batching=False, request_log=False)
    server.start()                 # loads the initial versions, binds, starts polling;
                                   # raises serving.model_server.StartupError on failure
    server.grpc_port, server.rest_port        # the ports actually bound
    server.grpc_target, server.rest_url       # "127.0.0.1:PORT", "http://127.0.0.1:PORT"
    server.manager.available_versions()       # {"cifar10": [1, 2]}
    server.manager.labels("cifar10")          # {"stable": 1, "canary": 2}
    server.manager.reconcile()                # poll the base paths now (instead of waiting)
    server.stop()                  # graceful: in-flight requests finish, then unload
    # or: with ModelServer(...) as server: ...

Module map: ``model_paths`` (layout, name checks), ``version_policy``, ``model_config``
(model_config_list text proto), ``monitoring_config``, ``signatures`` (SignatureDefs, input
checks), ``servable`` (one loaded version, refcounted), ``batching``, ``model_manager``
(load/unload/labels/polling), ``request_handler`` (protocol-neutral handling, metrics, logs),
``grpc_api``, ``rest_api`` + ``rest_json``, ``tensor_proto``, ``metrics``,
``model_server`` (the object), ``server`` (the CLI).
"""

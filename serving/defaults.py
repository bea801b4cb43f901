"""Serving defaults owned by the server package (not by the pipeline).

Two kinds of values live here:

* TF Serving's own conventions (gRPC port 8500, the REST port 8501 that every TF Serving
  guide uses, the Prometheus path of its monitoring config, ...), so that a deployment
  written for ``tensorflow_model_server`` needs no extra settings here;
* this server's operational defaults for in-process use (poll intervals, request size cap).

Nothing here is CIFAR-10 specific: model names and base paths come from the command line
or the model config file. ``pipeline/configs.py`` may re-export these values.
"""

from __future__ import annotations

HOST = "0.0.0.0"  # tensorflow_model_server listens on every interface
LOOPBACK = "127.0.0.1"  # in-process servers (tests, demos) bind here unless told otherwise
GRPC_PORT = 8500  # --port
REST_PORT = 8501  # the port TF Serving's docs pass as --rest_api_port (its flag default is 0: off)
MODEL_CONFIG_FILENAME = "models.config"  # model_config_list text proto beside the models
MODEL_CONFIG_POLL_SECONDS = 5  # in-process default for --model_config_file_poll_wait_seconds
FILE_SYSTEM_POLL_SECONDS = 2  # in-process default for --file_system_poll_wait_seconds
MAX_REQUEST_BYTES = 16 * 1024 * 1024  # REST bodies above this get 413 (gRPC: RESOURCE_EXHAUSTED)
PROMETHEUS_PATH = "/monitoring/prometheus/metrics"  # PrometheusConfig.path when left empty
SERVING_IMAGE = "tensorflow/serving:2.16.1"  # the real server this package mirrors
HEALTH_PATH = "/healthz"  # extension: 200 when any model version is AVAILABLE
VERSION_HEADER = "X-Model-Version"  # extension: REST answers name the version that served

# A decoded request tensor may not exceed this many bytes: a TensorProto may declare a huge
# shape with one value (TF repeats the last value to fill it); refusing beats swapping.
MAX_DECODED_TENSOR_BYTES = 512 * 1024 * 1024

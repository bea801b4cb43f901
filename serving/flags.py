"""Every ``tensorflow_model_server`` 2.16 flag: name, type, default, and what it does here.

The table is the single source for the CLI parser, for the start-up log of flags that have
no effect in this server, and for the feature table in docs/serving.md. ``support`` says:

* ``yes``: implemented with TF Serving's meaning;
* ``no-op``: accepted; it tunes something this server does not have (memory caches, TPU,
  thread pools of the C++ runtime), so a non-default value is logged once as having no
  effect, and behaviour is otherwise the same;
* ``refused``: a non-default value would change behaviour in a way this server cannot
  deliver (ALTS, other platforms, custom thread pools): start-up fails with a message naming
  the flag instead of silently serving differently.

Defaults are TF Serving's (``model_servers/main.cc`` and ``server.h``), including
``--rest_api_port=0`` (REST off) and ``--enable_model_warmup=true``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

_CPUS = os.cpu_count() or 1


@dataclass(frozen=True)
class Flag:
    name: str
    type: type
    default: Any
    support: str  # "yes" | "no-op" | "refused"
    help: str
    shown_default: str | None = None  # for docs, when the default depends on the machine


FLAGS: tuple[Flag, ...] = (
    Flag(
        "port",
        int,
        8500,
        "yes",
        "gRPC TCP port; 0 disables it (then --grpc_socket_path is required)",
    ),
    Flag("grpc_socket_path", str, "", "yes", "also listen for gRPC on this Unix socket"),
    Flag("rest_api_port", int, 0, "yes", "REST port; 0 disables the REST API"),
    Flag(
        "rest_api_num_threads",
        int,
        4 * _CPUS,
        "yes",
        "threads that decode, run and encode REST requests",
        "4 x CPUs",
    ),
    Flag(
        "rest_api_timeout_in_ms",
        int,
        30000,
        "yes",
        "TensorFlow run timeout of REST requests (DEADLINE_EXCEEDED -> 504)",
    ),
    Flag("rest_api_enable_cors_support", bool, False, "yes", "add CORS headers to REST answers"),
    Flag("enable_batching", bool, False, "yes", "merge concurrent requests into one model call"),
    Flag(
        "allow_version_labels_for_unavailable_models",
        bool,
        False,
        "yes",
        "accept labels that point at versions not loaded yet",
    ),
    Flag(
        "batching_parameters_file",
        str,
        "",
        "yes",
        "BatchingParameters text proto (needs --enable_batching)",
    ),
    Flag(
        "enable_per_model_batching_parameters",
        bool,
        False,
        "yes",
        "a version folder's batching_params.pbtxt overrides the batching parameters for it",
    ),
    Flag(
        "model_config_file",
        str,
        "",
        "yes",
        "ModelServerConfig text proto (overrides --model_name/--model_base_path)",
    ),
    Flag(
        "model_config_file_poll_wait_seconds",
        int,
        0,
        "yes",
        "re-read the config file this often; 0: read once",
    ),
    Flag("model_name", str, "default", "yes", "name of the single model"),
    Flag("model_base_path", str, "", "yes", "folder of numbered versions of the single model"),
    Flag(
        "num_load_threads",
        int,
        0,
        "no-op",
        "TF Serving: parallel version loads; here versions load one at a time on the poll thread",
    ),
    Flag(
        "num_unload_threads",
        int,
        0,
        "no-op",
        "TF Serving: unload thread pool; here each version unloads on its own thread once idle",
    ),
    Flag("max_num_load_retries", int, 5, "yes", "retries of a failed version load"),
    Flag("load_retry_interval_micros", int, 60_000_000, "yes", "wait between load retries"),
    Flag(
        "file_system_poll_wait_seconds", int, 1, "yes", "look for new versions this often; 0: once"
    ),
    Flag(
        "flush_filesystem_caches",
        bool,
        True,
        "no-op",
        "TF Serving drops file-system caches after loading; no such caches here",
    ),
    Flag(
        "tensorflow_session_parallelism",
        int,
        0,
        "yes",
        "intra- and inter-op threads (0: TensorFlow decides)",
    ),
    Flag(
        "tensorflow_session_config_file",
        str,
        "",
        "yes",
        "ConfigProto text proto for the model sessions",
    ),
    Flag("tensorflow_intra_op_parallelism", int, 0, "yes", "threads within one op"),
    Flag("tensorflow_inter_op_parallelism", int, 0, "yes", "ops run at once"),
    Flag(
        "use_alts_credentials",
        bool,
        False,
        "refused",
        "ALTS (Google Cloud's transport security) is not available here; use --ssl_config_file",
    ),
    Flag(
        "ssl_config_file",
        str,
        "",
        "yes",
        "SSLConfig text proto: gRPC speaks only TLS; client_verify: mutual TLS with custom_ca",
    ),
    Flag(
        "platform_config_file",
        str,
        "",
        "refused",
        "TF Serving: custom servable platforms; only the TensorFlow platform is served here",
    ),
    Flag(
        "per_process_gpu_memory_fraction",
        float,
        0.0,
        "no-op",
        "TF Serving: GPU memory share per process; CPU-only server here",
    ),
    Flag("saved_model_tags", str, "serve", "yes", "comma-separated MetaGraphDef tags to load"),
    Flag(
        "grpc_channel_arguments", str, "", "yes", "comma-separated key=value gRPC server arguments"
    ),
    Flag("grpc_max_threads", int, 4 * _CPUS, "yes", "gRPC worker threads", "4 x CPUs"),
    Flag(
        "enable_model_warmup",
        bool,
        True,
        "yes",
        "replay assets.extra/tf_serving_warmup_requests before a version is AVAILABLE",
    ),
    Flag(
        "num_request_iterations_for_warmup",
        int,
        0,
        "yes",
        "times each warmup request runs (0: once)",
    ),
    Flag("version", bool, False, "yes", "print the version and exit"),
    Flag(
        "monitoring_config_file", str, "", "yes", "MonitoringConfig text proto (Prometheus metrics)"
    ),
    Flag(
        "remove_unused_fields_from_bundle_metagraph",
        bool,
        True,
        "no-op",
        "TF Serving drops unused MetaGraphDef fields to save memory; nothing to drop here",
    ),
    Flag(
        "prefer_tflite_model",
        bool,
        False,
        "yes",
        "serve a version folder's model.tflite (tf.lite.Interpreter) instead of its SavedModel",
    ),
    Flag("num_tflite_pools", int, _CPUS, "yes", "TFLite interpreter pools", "CPUs"),
    Flag("num_tflite_interpreters_per_pool", int, 1, "yes", "TFLite interpreters per pool"),
    Flag(
        "enable_signature_method_name_check",
        bool,
        False,
        "yes",
        "require method_name to match the API (off: TF2 classify/regress signatures work)",
    ),
    Flag(
        "xla_cpu_compilation_enabled",
        bool,
        False,
        "no-op",
        "TF Serving: XLA:CPU JIT for jit-compiled functions; sessions here run TF's default",
    ),
    Flag(
        "enable_profiler",
        bool,
        True,
        "no-op",
        "TF Serving: profiler service on the gRPC port; not exposed here",
    ),
    Flag(
        "thread_pool_factory_config_file",
        str,
        "",
        "refused",
        "TF Serving: custom inter/intra-op thread pools per request; not here",
    ),
    Flag(
        "mixed_precision",
        str,
        "",
        "refused",
        "TF Serving: bfloat16 auto-mixed-precision rewrite of CPU graphs; not done here",
    ),
    Flag("skip_initialize_tpu", bool, False, "no-op", "TF Serving: skip TPU init; no TPU here"),
    Flag(
        "enable_grpc_healthcheck_service",
        bool,
        False,
        "yes",
        "serve grpc.health.v1.Health: SERVING while a model version is AVAILABLE",
    ),
)

BY_NAME = {f.name: f for f in FLAGS}


def non_default(values: dict[str, Any], support: str) -> list[str]:
    """Flags of the given support level that were set to something other than the default."""
    return [f.name for f in FLAGS if f.support == support and values.get(f.name) != f.default]


def markdown_table() -> str:
    """The flag table of docs/serving.md (a test keeps the two equal)."""
    rows = [
        "| Flag | Type | Default | Here | Meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for f in FLAGS:
        default = f.shown_default if f.shown_default is not None else str(f.default)
        rows.append(f"| `--{f.name}` | {f.type.__name__} | `{default}` | {f.support} | {f.help} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # python -m serving.flags > table (pasted into docs/serving.md)
    print(markdown_table(), end="")

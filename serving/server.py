"""``cifar10-serve`` / ``python -m serving``: the command line of the model server.

Flag names mirror ``tensorflow_model_server`` (``--port``, ``--rest_api_port``,
``--model_name``, ``--model_base_path``, ``--model_config_file``, ...; dashed spellings work
too), so the same command line, minus the binary name, runs the real server in production.
Arguments are checked before TensorFlow is imported, so mistakes fail fast.

``ModelServer`` is importable from here as well (loaded lazily, it pulls in TensorFlow).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from pipeline import configs


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _add(p: argparse.ArgumentParser, name: str, **kwargs) -> None:
    """Add ``--snake_case`` with its ``--dashed-case`` alias."""
    flags = [f"--{name}"]
    if "_" in name:
        flags.append(f"--{name.replace('_', '-')}")
    p.add_argument(*flags, dest=name, **kwargs)


def _add_bool(p: argparse.ArgumentParser, name: str, help: str) -> None:
    _add(p, name, type=_bool, nargs="?", const=True, default=False, metavar="BOOL", help=help)


def build_parser() -> argparse.ArgumentParser:
    default_base = configs.serving_root(configs.DEFAULT_OUTPUT_ROOT) / configs.MODEL_NAME
    p = argparse.ArgumentParser(
        prog="cifar10-serve",
        description="TF Serving compatible model server (gRPC PredictionService/ModelService "
                    "and the /v1/models REST API) over a TF Serving model directory.")
    _add(p, "port", type=int, default=configs.GRPC_PORT, help="gRPC port (0: pick a free one)")
    _add(p, "rest_api_port", type=int, default=configs.REST_PORT,
         help="REST port (0: pick a free one)")
    _add(p, "host", default=configs.SERVING_HOST, help="bind address for both ports")
    _add(p, "model_name", default=configs.MODEL_NAME)
    _add(p, "model_base_path", type=Path, default=None,
         help=f"folder of numbered versions (default: {default_base})")
    _add(p, "model_config_file", type=Path, default=None,
         help="model_config_list text proto; overrides --model_name/--model_base_path")
    _add(p, "model_config_file_poll_wait_seconds", type=float,
         default=configs.MODEL_CONFIG_POLL_SECONDS, help="0: read the config file once")
    _add(p, "file_system_poll_wait_seconds", type=float,
         default=configs.FILE_SYSTEM_POLL_SECONDS, help="0: look for versions once")
    _add_bool(p, "allow_version_labels_for_unavailable_models",
              "accept labels that point at versions not loaded (yet)")
    _add_bool(p, "enable_batching", "merge concurrent requests into one model call")
    _add(p, "batching_window_ms", type=float, default=2.0,
         help="with --enable_batching: how long a request waits for company")
    _add(p, "max_batch_size", type=int, default=64,
         help="with --enable_batching: rows per merged call")
    _add(p, "monitoring_config_file", type=Path, default=None,
         help="TF Serving monitoring config (prometheus_config path); default: metrics at "
              f"{configs.PROMETHEUS_PATH}")
    _add(p, "max_request_bytes", type=int, default=configs.MAX_REQUEST_BYTES)
    _add(p, "rest_api_num_threads", type=int, default=16,
         help="worker threads per protocol (gRPC handlers, REST model calls)")
    p.add_argument("--enable_request_logging", "--enable-request-logging", "--request_log",
                   "--request-log", dest="request_log", type=_bool, nargs="?", const=True,
                   default=False, metavar="BOOL",
                   help="one JSON line per request on stderr")
    _add(p, "log_level", default="INFO")
    return p


def _check_paths(args: argparse.Namespace) -> str | None:
    if args.model_config_file is not None:
        if not args.model_config_file.is_file():
            return f"model config file {args.model_config_file} does not exist"
    else:
        if args.model_base_path is None:
            args.model_base_path = (configs.serving_root(configs.DEFAULT_OUTPUT_ROOT)
                                    / args.model_name)
        if not args.model_base_path.is_dir():
            return (f"model base path {args.model_base_path} does not exist; run the pipeline "
                    "first or pass --model_base_path")
    if args.monitoring_config_file is not None and not args.monitoring_config_file.is_file():
        return f"monitoring config file {args.monitoring_config_file} does not exist"
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    problem = _check_paths(args)
    if problem:
        print(f"cifar10-serve: error: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from serving import monitoring_config
    from serving.batching import BatchingOptions
    from serving.model_server import ModelServer, StartupError

    metrics_path = configs.PROMETHEUS_PATH
    if args.monitoring_config_file is not None:
        try:
            metrics_path = monitoring_config.load_file(args.monitoring_config_file).path
        except Exception as exc:  # text_format.ParseError, OSError
            print(f"cifar10-serve: error: monitoring config: {exc}", file=sys.stderr)
            return 2
    server = ModelServer(
        model_name=args.model_name, model_base_path=args.model_base_path,
        model_config_file=args.model_config_file, host=args.host,
        grpc_port=args.port, rest_port=args.rest_api_port,
        model_config_poll_seconds=args.model_config_file_poll_wait_seconds,
        file_system_poll_seconds=args.file_system_poll_wait_seconds,
        allow_version_labels_for_unavailable_models=args.allow_version_labels_for_unavailable_models,
        enable_batching=args.enable_batching,
        batching=BatchingOptions(args.batching_window_ms, args.max_batch_size),
        max_request_bytes=args.max_request_bytes, metrics_path=metrics_path,
        request_log=args.request_log, max_workers=args.rest_api_num_threads)
    try:
        server.start()
    except StartupError as exc:
        print(f"cifar10-serve: error: {exc}", file=sys.stderr)
        return 1

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    versions = server.manager.available_versions()
    print(f"cifar10-serve: gRPC at {server.grpc_target}, REST at {server.rest_url} "
          f"(e.g. {server.rest_url}/v1/models/{next(iter(versions), args.model_name)}), "
          f"metrics at {server.rest_url}{metrics_path}; models {versions}", flush=True)
    while not stop.wait(0.5):
        pass
    print("cifar10-serve: shutting down", flush=True)
    server.stop()
    return 0


def __getattr__(name: str):
    if name in ("ModelServer", "StartupError"):
        from serving import model_server

        return getattr(model_server, name)
    raise AttributeError(name)


if __name__ == "__main__":
    sys.exit(main())

"""The command line: ``python -m serving`` / ``python -m serving.cli`` (and ``cifar10-serve``).

It takes every ``tensorflow_model_server`` flag with TF Serving's names, types and defaults
(:mod:`serving.flags`), so a deployment's argument list runs unchanged; it fails like TF
Serving (``Failed to start server. Error: <status>`` and exit status 255) when the config
is wrong. A few extension flags exist for local use (``--host``, ``--max_request_bytes``,
``--enable_request_logging``, ``--log_level``). Arguments are checked before TensorFlow is
imported, so mistakes fail fast.

Project wrappers may pass their own defaults: ``main(argv, defaults={"model_name": ...})``.

The server object it starts is :class:`serving.server.ModelServer`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Mapping
from typing import Any

from serving import defaults as serving_defaults
from serving.flags import FLAGS, non_default

EXIT_FAILURE = 255  # tensorflow_model_server returns -1
VERSION = "2.16.1-compatible (serving package)"
log = logging.getLogger("serving.cli")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(EXIT_FAILURE)


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _add(p: argparse.ArgumentParser, name: str, kind: type, default: Any, help: str) -> None:
    flags = [f"--{name}"]
    if "_" in name:
        flags.append(f"--{name.replace('_', '-')}")
    if kind is bool:
        p.add_argument(
            *flags,
            dest=name,
            type=_bool,
            nargs="?",
            const=True,
            default=default,
            metavar="BOOL",
            help=help,
        )
    else:
        p.add_argument(*flags, dest=name, type=kind, default=default, help=help)


def build_parser(defaults: Mapping[str, Any] | None = None) -> argparse.ArgumentParser:
    overrides = dict(defaults or {})
    p = _Parser(
        prog="tensorflow_model_server",
        description="TF Serving compatible model server (gRPC PredictionService/"
        "ModelService and the /v1/models REST API).",
    )
    for flag in FLAGS:
        _add(
            p,
            flag.name,
            flag.type,
            overrides.get(flag.name, flag.default),
            f"{flag.help} [TF Serving flag; here: {flag.support}]",
        )
    extensions = [
        ("host", str, serving_defaults.HOST, "bind address of every listener (extension)"),
        (
            "max_request_bytes",
            int,
            serving_defaults.MAX_REQUEST_BYTES,
            "largest REST body / gRPC message accepted (extension)",
        ),
        ("enable_request_logging", bool, False, "one JSON line per request on stderr (extension)"),
        ("log_level", str, "INFO", "Python log level (extension)"),
    ]
    for name, kind, default, help in extensions:
        _add(p, name, kind, overrides.get(name, default), help)
    return p


def _channel_arguments(text: str) -> list[tuple[str, int | str]]:
    """TF Serving's ``key=value,key=value``; integer values are passed as integers."""
    out: list[tuple[str, int | str]] = []
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--grpc_channel_arguments: expected key=value, got {item!r}")
        try:
            out.append((key, int(value)))
        except ValueError:
            out.append((key, value))
    return out


def _check(args: argparse.Namespace) -> str | None:
    """TF Serving's own argument checks (Server::BuildAndStart), in its words."""
    if args.port == 0 and not args.grpc_socket_path:
        return (
            "INVALID_ARGUMENT: At least one of server_options.grpc_port or "
            "server_options.grpc_socket_path must be set."
        )
    if args.use_alts_credentials and args.ssl_config_file:
        return (
            "INVALID_ARGUMENT: Either use_alts_credentials must be false or "
            "ssl_config_file must be empty."
        )
    if not args.model_base_path and not args.model_config_file:
        return (
            "INVALID_ARGUMENT: Both server_options.model_base_path and "
            "server_options.model_config_file are empty!"
        )
    if args.batching_parameters_file and not args.enable_batching:
        return (
            "INVALID_ARGUMENT: server_options.batching_parameters_file is set without "
            "setting server_options.enable_batching to true."
        )
    if (
        args.tensorflow_intra_op_parallelism > 0
        and args.tensorflow_inter_op_parallelism > 0
        and args.tensorflow_session_parallelism > 0
    ):
        return (
            "INVALID_ARGUMENT: Either configure server_options.tensorflow_session_"
            "parallelism or (server_options.tensorflow_intra_op_parallelism, "
            "server_options.tensorflow_inter_op_parallelism) separately. You cannot "
            "configure all."
        )
    refused = non_default(vars(args), "refused")
    if refused:
        return "UNIMPLEMENTED: not supported by this server: " + ", ".join(
            f"--{n} ({_why(n)})" for n in refused
        )
    return None


def _why(name: str) -> str:
    from serving.flags import BY_NAME

    return BY_NAME[name].help


def _fail(message: str) -> int:
    print(f"Failed to start server. Error: {message}", file=sys.stderr, flush=True)
    return EXIT_FAILURE


def _read_text_proto(path: str, message) -> str | None:
    """None, or TF Serving's start-up error (after protobuf's parser report on stderr)."""
    from serving.text_proto import TextProtoError, read_text_proto

    try:
        read_text_proto(path, message)
    except TextProtoError as exc:
        if exc.report:
            print(exc.report, file=sys.stderr, flush=True)
        return exc.status
    return None


def _ssl_settings(path: str):
    """--ssl_config_file's SSLConfig, checked; raises ValueError with the start-up error."""
    from serving import tls
    from serving.text_proto import TextProtoError

    try:
        return tls.load_ssl_config(path)
    except TextProtoError as exc:
        if exc.report:
            print(exc.report, file=sys.stderr, flush=True)
        raise ValueError(exc.status) from exc
    except tls.TlsConfigError as exc:
        raise ValueError(f"INVALID_ARGUMENT: --ssl_config_file {path}: {exc}") from exc


def _session_config(args: argparse.Namespace):
    """ConfigProto from --tensorflow_session_config_file and the parallelism flags."""
    from tensorflow.core.protobuf import config_pb2

    config = config_pb2.ConfigProto()
    if args.tensorflow_session_config_file:
        problem = _read_text_proto(args.tensorflow_session_config_file, config)
        if problem:
            raise ValueError(problem)
    if args.tensorflow_intra_op_parallelism > 0 or args.tensorflow_inter_op_parallelism > 0:
        config.intra_op_parallelism_threads = args.tensorflow_intra_op_parallelism
        config.inter_op_parallelism_threads = args.tensorflow_inter_op_parallelism
    elif args.tensorflow_session_parallelism > 0:
        config.intra_op_parallelism_threads = args.tensorflow_session_parallelism
        config.inter_op_parallelism_threads = args.tensorflow_session_parallelism
    return config


def _listening(host: str) -> str:
    """What the listeners are bound to, in words (the banner's addresses are for clients)."""
    if host in ("0.0.0.0", "::", ""):
        return f"listening on {host or '0.0.0.0'} = all interfaces"
    if host in ("127.0.0.1", "::1", "localhost"):
        return f"listening on {host} = this machine only (--host=0.0.0.0: all interfaces)"
    return f"listening on {host} only"


def banner(server, metrics_path: str | None) -> str:
    """The start-up line: where to connect, what is really bound, TLS, and the models.

    ``gRPC at <target>, REST at <url>`` stays first: scripts and tests read it."""
    where = []
    if server.grpc_port is not None:
        where.append(f"gRPC at {server.grpc_target}")
    if server.grpc_socket_path:
        where.append(f"gRPC at unix:{server.grpc_socket_path}")
    if server.rest_port:
        where.append(f"REST at {server.rest_url}")
        if metrics_path:
            where.append(f"metrics at {server.rest_url}{metrics_path}")
    notes = [_listening(server.host)]
    if server.ssl is not None:
        notes.append("gRPC over mutual TLS" if server.ssl.client_verify else "gRPC over TLS")
    if server.grpc_health:
        notes.append("grpc.health.v1 served")
    models = server.manager.available_versions()
    return f"serving: {', '.join(where)}; {'; '.join(notes)}; models {models}"


def main(argv: list[str] | None = None, defaults: Mapping[str, Any] | None = None) -> int:
    args = build_parser(defaults).parse_args(argv)
    if args.version:
        print(f"TensorFlow ModelServer: {VERSION}\nTensorFlow Library: see the venv")
        return 0
    problem = _check(args)
    if problem:
        return _fail(problem)
    try:
        channel_args = _channel_arguments(args.grpc_channel_arguments)
    except ValueError as exc:
        return _fail(f"INVALID_ARGUMENT: {exc}")
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for name in non_default(vars(args), "no-op"):
        log.warning("--%s has no effect in this server: %s", name, _why(name))

    from serving import batching, monitoring_config
    from serving.servable import LoadOptions
    from serving.server import ModelServer, StartupError

    metrics_path = None  # TF Serving exports metrics only when the monitoring config says so
    if args.monitoring_config_file:
        msg = monitoring_config.MonitoringConfig()
        problem = _read_text_proto(args.monitoring_config_file, msg)
        if problem:
            return _fail(problem)
        metrics_path = monitoring_config.parse(str(msg)).metrics_path
    batching_options = None
    if args.enable_batching:
        if args.batching_parameters_file:
            params = batching.BatchingParameters()
            problem = _read_text_proto(args.batching_parameters_file, params)
            if problem:
                return _fail(problem)
            try:
                batching_options = batching.parse_parameters(str(params))
            except ValueError as exc:
                return _fail(f"INVALID_ARGUMENT: {exc}")
        else:
            batching_options = batching.BatchingOptions()
    try:
        session_config = _session_config(args)
        ssl = _ssl_settings(args.ssl_config_file) if args.ssl_config_file else None
    except ValueError as exc:
        return _fail(str(exc))
    load_options = LoadOptions(
        tags=tuple(t for t in args.saved_model_tags.split(",") if t),
        session_config=session_config,
        batching=batching_options,
        enable_warmup=args.enable_model_warmup,
        warmup_iterations=max(1, args.num_request_iterations_for_warmup),
        method_check=args.enable_signature_method_name_check,
        per_model_batching=args.enable_per_model_batching_parameters,
        prefer_tflite=args.prefer_tflite_model,
        tflite_pools=max(1, args.num_tflite_pools),
        tflite_interpreters_per_pool=max(1, args.num_tflite_interpreters_per_pool),
    )
    try:
        server = ModelServer(
            model_name=args.model_name,
            model_base_path=args.model_base_path or None,
            model_config_file=args.model_config_file or None,
            host=args.host,
            grpc_port=args.port or None,
            rest_port=args.rest_api_port or None,
            grpc_socket_path=args.grpc_socket_path or None,
            grpc_channel_arguments=channel_args,
            model_config_poll_seconds=args.model_config_file_poll_wait_seconds,
            file_system_poll_seconds=args.file_system_poll_wait_seconds,
            allow_version_labels_for_unavailable_models=(
                args.allow_version_labels_for_unavailable_models
            ),
            enable_batching=args.enable_batching,
            batching=batching_options,
            load_options=load_options,
            max_load_retries=args.max_num_load_retries,
            load_retry_interval_seconds=max(0.0, args.load_retry_interval_micros / 1e6),
            rest_timeout_ms=max(0, args.rest_api_timeout_in_ms),
            enable_cors=args.rest_api_enable_cors_support,
            max_request_bytes=args.max_request_bytes,
            metrics_path=metrics_path,
            request_log=args.enable_request_logging,
            max_workers=max(args.grpc_max_threads, args.rest_api_num_threads, 1),
            ssl=ssl,
            grpc_health=args.enable_grpc_healthcheck_service,
        )
        server.start()
    except StartupError as exc:
        if exc.report:
            print(exc.report, file=sys.stderr, flush=True)
        return _fail(str(exc))

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(banner(server, metrics_path), flush=True)
    while not stop.wait(0.5):
        pass
    print("serving: shutting down", flush=True)
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

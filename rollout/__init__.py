"""Model continuous delivery: canary rollout, live monitoring, automatic promote/rollback.

By subsystem, each importing only the ones above it in this list (tests/test_architecture.py):

* shared modules: ``settings``, ``atomic_io``, ``policy`` (+ ``policy.yaml``), ``state``,
  ``retrain_requests``, ``serving_client``, ``client_tls``;
* ``drift/``: input drift (signals, monitor, references, sampling, alerts, shifts);
* ``canary/``: the rollout itself (manager, model config labels, routing, the router and its
  metrics, analysis, the watch loop, the Kubernetes form, drift wiring for a router);
* ``release/``: the model CD loop of ``cifar10-release`` (and retrain requests' consumer);
* ``cli``/``cli_drift``: ``cifar10-rollout``.

Demo and load tooling (load generator, synthetic models, the self-contained release demo)
is not library code: it lives in the top-level ``demos/`` package.
"""

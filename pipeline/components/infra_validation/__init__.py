"""InfraValidator: load the candidate in a model server and query it before it may be pushed.

The Evaluator proves the model is *accurate*; it loads it with TensorFlow in-process. A model
can pass that and still fail where it matters: in the model server (a serving signature that
cannot parse the examples clients send, an op the server cannot run, a SavedModel the
server's loader rejects). TFX's ``InfraValidator`` catches that by starting a real server on
the candidate, waiting for it to load and sending requests built from the examples. Its stock
runners need Docker or Kubernetes; here no container engine runs, so this module adds a
third *serving platform*: the project's TF-Serving-compatible server as a local process.

Platform selection (the stock ``ServingSpec`` proto, unchanged):

* ``serving_platform`` unset -> **local process**: ``python -m serving.cli`` with
  ``tensorflow_model_server``'s flags on free ports (this module's addition);
* ``local_docker`` / ``kubernetes`` -> TFX's stock runners with the real
  ``tensorflow/serving`` image (``serving_spec.tensorflow_serving.tags``), for production.

What this executor adds to the stock one (everything else is TFX's code path):

* failures are *explained*: the blessing artifact gets the custom property
  ``not_blessed_reason`` and a ``infra_validation.json`` file (reason, attempts, timings,
  the tail of the server's log), read back by :func:`read_infra_validation`;
* each request is sent with a timeout and its answer is checked (the stock client discards
  it and waits forever on a hung server);
* a *model* failure (the server could not load it, or answered a request with an error) is
  final: retrying it ``num_tries`` times would restart the server for the same answer. Only
  infrastructure failures (server died, port taken, deadline) are retried;
* a model whose signatures cannot be turned into requests is not blessed (with the reason)
  instead of failing the component.

The modules: :mod:`.specs` (platforms, defaults, the ``ServingSpec``/``RequestSpec`` the
pipeline uses), :mod:`.process_runner` (the local-process model server),
:mod:`.executor` (the executor), :mod:`.component` (the component and the pipeline's
factory), :mod:`.result` (the verdict file and its reader, no TFX import) and :mod:`.cli`
(``python -m pipeline.components.infra_validation``: one model validated by hand).
"""

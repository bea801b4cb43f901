"""The data layer: any labelled image dataset in, TFRecord input spans and their description out.

Entry points: :func:`ingest.spans.prepare_span` (CIFAR-10's python batches or an image folder
-> ``span-N`` with ``dataset.json``) and :func:`ingest.inference.prepare_inference_examples`
(a folder of unlabelled images -> examples for the BulkInferrer). Every input problem is an
:class:`ingest.errors.DataError` naming the file or folder.

Inside, lowest first: ``settings`` (names and limits), ``errors``, ``options`` (checks of what
callers pass), ``progress`` (the callback's reports), ``walk`` (finding files), ``images`` (one
file: header, validation, stored bytes), ``layout`` (which layout a root is in),
``folder_plan`` (classes, splits, fingerprint), ``tfrecords`` (examples and shards),
``image_folder`` and ``cifar10`` (reading each source), ``spans`` and ``inference``.
"""

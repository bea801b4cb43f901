"""``python -m pipeline.components.infra_validation``: validate one model by hand (see
:mod:`.cli`)."""

import sys

from models import keras_runtime

keras_runtime.prepare_entry_point()  # before anything loads TensorFlow

from pipeline.components.infra_validation.cli import main  # noqa: E402

sys.exit(main())

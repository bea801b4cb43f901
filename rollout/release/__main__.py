"""``python -m rollout.release``: the ``cifar10-release`` command."""

import sys

from rollout.release.cli import main

sys.exit(main())

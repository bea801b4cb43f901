"""``python -m serving``: same as ``cifar10-serve``."""

import sys

from serving.cli import main

sys.exit(main())

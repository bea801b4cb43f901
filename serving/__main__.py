"""``python -m serving``: same as ``cifar10-serve``."""

import sys

from serving.server import main

sys.exit(main())

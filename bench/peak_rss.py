"""Run a command and report its peak resident memory (max RSS over it and its children).

python -m bench.peak_rss <command...>   -> last stderr line: PEAK_RSS_KB=<n>
"""

from __future__ import annotations

import resource
import subprocess
import sys


def main() -> int:
    code = subprocess.call(sys.argv[1:])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    sys.stderr.write(f"\nPEAK_RSS_KB={peak}\n")
    return code


if __name__ == "__main__":
    sys.exit(main())

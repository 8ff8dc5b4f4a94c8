"""``python -m rnnlab.bench NAME ...``: the same as ``rnnlab bench NAME ...``.

An entry point, like :mod:`rnnlab.cli` itself: the one module of bench that may import the CLI.
"""

import sys

from rnnlab.cli import main

main(["bench", *sys.argv[1:]], prog="python -m rnnlab")

"""``python -m rnnlab.cli ...``: the same as the ``rnnlab`` command."""

from rnnlab.cli import main

main()

"""``python -m raylaws``: the ``raylaws`` command."""

from raylaws.cli import main

main()

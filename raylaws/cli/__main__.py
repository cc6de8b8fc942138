"""``python -m raylaws.cli``: the ``raylaws`` command."""

from raylaws.cli import main

main()

"""The ``raylaws`` command: a thin layer over the public API; the only place that prints.

Each command parses its arguments and calls one public function. Bad input is reported as
one line per problem on stderr with exit code 2, and no traceback, before Ray starts.

Exit codes: 0 done; 1 a finished sweep with a size that has no completed trial, or
``raylaws check`` found problems; 2 bad input (spec, paths, arguments, an unusable sweep);
130 interrupted (resumable).

The commands, by module (importing each registers its commands on ``app``, in this order):

- :mod:`raylaws.cli.specs`: ``init``, ``validate``, ``ladder``, ``data``
- :mod:`raylaws.cli.sweeps`: ``run``, ``resume``, ``status``
- :mod:`raylaws.cli.results`: ``best``, ``fit``, ``compare``, ``report``
- :mod:`raylaws.cli.checks`: ``check``, ``debug``
- :mod:`raylaws.cli._app`: what they share (``app``, ``main``, errors, exit codes, tables)
"""

# Importing the command modules registers their commands, listed by `raylaws --help` in this order.
from raylaws.cli import specs, sweeps, results, checks  # noqa: F401,I001
from raylaws.cli._app import (EXIT_INPUT, EXIT_INTERRUPTED, EXIT_PROBLEMS, _error, _guarded,  # noqa: F401
                              _quiet_libraries, app, main)
from raylaws.cli.sweeps import _Progress  # noqa: F401

__all__ = ["EXIT_INPUT", "EXIT_INTERRUPTED", "EXIT_PROBLEMS", "app", "main"]

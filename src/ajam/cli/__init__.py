"""The ``ajam`` command line: one module per command (see :mod:`ajam.cli.main`)."""

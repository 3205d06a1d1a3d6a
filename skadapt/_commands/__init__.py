"""Sub-commands of the ``skadapt`` command line (see :mod:`skadapt.cli`)."""

"""The ``dockyard`` command line: a thin, fast client of the Docker Engine API."""

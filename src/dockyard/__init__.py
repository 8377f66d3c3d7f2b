"""dockyard: a Docker-compatible container platform (build, ship, run)."""

__version__ = "0.1.0"

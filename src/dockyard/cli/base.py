"""What every command module shares: the context, output helpers, the exit-code exception.

Kept apart from ``main`` so that ``python -m dockyard.cli.main`` (where main is ``__main__``)
and the command modules agree on one ``CLIError`` class.
"""

from __future__ import annotations

import sys

from dockyard.cli.flags import HelpRequested, help_text, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.cli.flags import FlagSpec
    from dockyard.client import Client


class CLIError(Exception):
    """Ends the command with ``message`` (one line on stderr, if any) and exit ``code``."""

    def __init__(self, message: str | None, code: int = 1):
        super().__init__(message or "")
        self.message = message
        self.code = code


class ShowHelp(Exception):
    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


class Context:
    """What every command gets: the daemon address and a lazily made client."""

    def __init__(self, host: str | None, debug: bool = False):
        self.host = host
        self.debug = debug
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            from dockyard.cli.connect import make_client

            self._client = make_client(self.host)
        return self._client

    def parse(self, argv: list[str], usage: str, summary: str, spec: list[FlagSpec],
              interspersed: bool = True, aliases: dict[str, str] | None = None) -> tuple:
        try:
            return parse(argv, spec, interspersed, aliases)
        except HelpRequested:
            raise ShowHelp(help_text("dockyard " + usage, summary, spec)) from None


def out(text: str) -> None:
    """Write ``text`` and a newline to stdout."""
    sys.stdout.write(text + "\n")


def err(text: str) -> None:
    sys.stderr.write(text + "\n")

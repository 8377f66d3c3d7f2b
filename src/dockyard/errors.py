"""Error vocabulary shared by every layer.

Errors are matched by class, never by text. The API maps them to HTTP status codes in one
table (``dockyard.api.errors``); the registry maps them to OCI error codes in its own table.
"""


class DockyardError(Exception):
    """Base class; ``str(err)`` is the one line a user sees."""


class NotFound(DockyardError):
    pass


class Conflict(DockyardError):
    pass


class InvalidArgument(DockyardError):
    pass


class NotModified(DockyardError):
    """The object is already in the requested state (Docker answers 304)."""


class Forbidden(DockyardError):
    pass


class Unauthorized(DockyardError):
    pass


class Unavailable(DockyardError):
    pass


class NotImplementedByDriver(DockyardError):
    """The configured driver cannot do this (reading a ``none`` log); Docker answers 501."""


class DigestMismatch(InvalidArgument):
    pass


class UnsafeArchive(InvalidArgument):
    """A tar entry would write outside its root, or is otherwise hostile."""


class RuntimeFailure(DockyardError):
    """The OCI runtime or the monitor refused; carries the runtime's own message."""

    def __init__(self, message: str, exit_code: int = 125):
        super().__init__(message)
        self.exit_code = exit_code

"""The one table that maps error classes to HTTP status codes (moby's errdefs, in small)."""

from .. import errors as e

# Checked in order: the first class that matches wins (subclasses before their bases).
STATUS_BY_ERROR: list[tuple[type, int]] = [
    (e.NotModified, 304),
    (e.UnsafeArchive, 400),
    (e.DigestMismatch, 400),
    (e.InvalidArgument, 400),
    (e.Unauthorized, 401),
    (e.Forbidden, 403),
    (e.NotFound, 404),
    (e.Conflict, 409),
    (e.NotImplementedByDriver, 501),
    (e.Unavailable, 503),
]


def status_for(exc: BaseException) -> int:
    if isinstance(exc, e.RuntimeFailure):
        # Docker: a command that cannot be found or run is the caller's mistake (400).
        return 400 if exc.exit_code in (126, 127) else 500
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500

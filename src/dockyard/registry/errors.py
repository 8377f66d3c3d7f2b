"""OCI Distribution error codes, the one place engine errors become registry errors."""

from __future__ import annotations

from typing import Any

from .. import errors as base

#: spec code -> (HTTP status, default message)
CODES: dict[str, tuple[int, str]] = {
    "BLOB_UNKNOWN": (404, "blob unknown to registry"),
    "BLOB_UPLOAD_INVALID": (400, "blob upload invalid"),
    "BLOB_UPLOAD_UNKNOWN": (404, "blob upload unknown to registry"),
    "DIGEST_INVALID": (400, "provided digest did not match uploaded content"),
    "MANIFEST_BLOB_UNKNOWN": (400, "manifest references a manifest or blob unknown to registry"),
    "MANIFEST_INVALID": (400, "manifest invalid"),
    "MANIFEST_UNKNOWN": (404, "manifest unknown to registry"),
    "NAME_INVALID": (400, "invalid repository name"),
    "NAME_UNKNOWN": (404, "repository name not known to registry"),
    "SIZE_INVALID": (400, "provided length did not match content length"),
    "TAG_INVALID": (400, "manifest tag did not match URI"),
    "UNAUTHORIZED": (401, "authentication required"),
    "DENIED": (403, "requested access to the resource is denied"),
    "UNSUPPORTED": (405, "the operation is unsupported"),
    "TOOMANYREQUESTS": (429, "too many requests"),
    "RANGE_INVALID": (416, "invalid content range"),
    "PAGINATION_NUMBER_INVALID": (400, "invalid number of results requested"),
    "PAYLOAD_TOO_LARGE": (413, "payload too large"),
}


class RegistryError(base.DockyardError):
    """An error with its OCI code; ``status`` overrides the code's usual HTTP status."""

    def __init__(self, code: str, message: str | None = None, detail: Any = None,
                 status: int | None = None, headers: dict[str, str] | None = None):
        default_status, default_message = CODES[code]
        super().__init__(message or default_message)
        self.code = code
        self.message = message or default_message
        self.detail = detail
        self.status = status or default_status
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            err["detail"] = self.detail
        # RANGE_INVALID / PAYLOAD_TOO_LARGE are not spec codes: report them as the spec's.
        if self.code == "RANGE_INVALID":
            err["code"] = "BLOB_UPLOAD_INVALID"
        elif self.code == "PAYLOAD_TOO_LARGE":
            err["code"] = "MANIFEST_INVALID"
        return {"errors": [err]}


def from_base(err: base.DockyardError, not_found_code: str = "NAME_UNKNOWN") -> RegistryError:
    """Map a shared error class to a registry error (by class, never by text)."""
    if isinstance(err, RegistryError):
        return err
    if isinstance(err, base.DigestMismatch):
        return RegistryError("DIGEST_INVALID", str(err))
    if isinstance(err, base.NotFound):
        return RegistryError(not_found_code, str(err))
    if isinstance(err, base.InvalidArgument):
        return RegistryError("MANIFEST_INVALID", str(err))
    if isinstance(err, base.Unauthorized):
        return RegistryError("UNAUTHORIZED", str(err))
    if isinstance(err, base.Forbidden):
        return RegistryError("DENIED", str(err))
    return RegistryError("UNSUPPORTED", str(err), status=500)

"""Where things go inside a storage driver, kept apart from the driver itself.

Blob bytes are shared and content-addressed; a repository sees a blob only through a link row
in the index (``index.py``), so deleting a repository's link hides the blob there at once.
"""

from __future__ import annotations

import re

from .. import digest as _digest

_UUID_RE = re.compile(r"^[0-9a-f]{32}$")


def blob_data(digest: str) -> str:
    algo, hexpart = _digest.parse(digest)
    return f"blobs/{algo}/{hexpart[:2]}/{hexpart}/data"


def blob_dir(digest: str) -> str:
    algo, hexpart = _digest.parse(digest)
    return f"blobs/{algo}/{hexpart[:2]}/{hexpart}"


BLOBS_ROOT = "blobs"
UPLOADS_ROOT = "uploads"


def is_upload_id(upload_id: str) -> bool:
    return bool(_UUID_RE.match(upload_id))


def upload_dir(upload_id: str) -> str:
    return f"{UPLOADS_ROOT}/{upload_id}"


def upload_data(upload_id: str) -> str:
    return f"{UPLOADS_ROOT}/{upload_id}/data"


def upload_info(upload_id: str) -> str:
    return f"{UPLOADS_ROOT}/{upload_id}/info.json"

"""ADD <url>: an http(s) download into the step's staging directory, with a clear error when
the server cannot be reached or answers with an error status."""

from __future__ import annotations

import email.utils
import os
import posixpath
import urllib.error
import urllib.parse
import urllib.request

from .step import StepFailed

_TIMEOUT = 60


def is_url(src: str) -> bool:
    return src.startswith(("http://", "https://"))


def url_filename(url: str) -> str:
    path = urllib.parse.urlsplit(url).path
    name = posixpath.basename(path.rstrip("/"))
    return name or "__unnamed__"


def download(url: str, dest_dir: str, name: str) -> str:
    """Fetch ``url`` into dest_dir/name (mode 0600, mtime from Last-Modified, as Docker)."""
    path = os.path.join(dest_dir, name)
    req = urllib.request.Request(url, headers={"User-Agent": "dockyard-builder"})
    try:
        with urllib.request.urlopen(req, timeout=_TIMEOUT) as resp, open(path, "wb") as f:
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                f.write(chunk)
            modified = resp.headers.get("Last-Modified")
    except urllib.error.HTTPError as e:
        raise StepFailed(f"failed to GET {url} with status {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise StepFailed(f"failed to download {url}: {reason}") from None
    os.chmod(path, 0o600)
    if modified:
        try:
            ts = email.utils.parsedate_to_datetime(modified).timestamp()
            os.utime(path, (ts, ts))
        except (TypeError, ValueError):
            pass
    return path
